//! Pushes that go wrong half way (issue #11): a registry killed in the middle of a chunked
//! upload and started again on the same storage, a registry that lost the upload session
//! meanwhile, and one that answers 5xx/429 now and then. Each time the push completes on
//! the next run (or within its retries) and every blob the registry holds hashes to its
//! digest.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imagesmith_oci::oci_spec::image::{Arch, Os};
use imagesmith_oci::registry::{
    PushOptions, Pushed, Reference, RegistryClient, RegistryError, RegistryOptions,
};
use imagesmith_oci::{
    digest_of, write_layer, BlobStore, Compression, HistoryEntry, Image, ImageBuilder, LayerOptions,
};

use super::distribution::{self, Registry};

const MIB: usize = 1 << 20;

/// An image of one incompressible layer of `mib` MiB (stored uncompressed, so the blob
/// is as large as asked)
fn big_image(store: &BlobStore, work: &Path, mib: usize) -> Image {
    let root = work.join("big-root");
    std::fs::create_dir_all(&root).unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut bytes = vec![0u8; mib * MIB];
    for chunk in bytes.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(root.join("data.bin"), bytes).unwrap();
    let mut options = LayerOptions::new(crate::EPOCH);
    options.compression = Compression::None;
    let layer = write_layer(store, &root, &options).unwrap();
    let mut builder = ImageBuilder::new(Arch::Amd64, Os::Linux, crate::EPOCH);
    builder.add_layer(
        &layer,
        HistoryEntry {
            created_by: String::from("random data"),
            comment: None,
        },
    );
    builder.build(store).unwrap()
}

/// Options for a quick test: 1 MiB chunks, resume state in `state_dir`, short retries
fn options(state_dir: &Path, retries: u32) -> PushOptions {
    PushOptions {
        chunk_size: MIB as u64,
        retries,
        retry_delay: Duration::from_millis(20),
        mount_from: Vec::new(),
        state_dir: Some(state_dir.to_path_buf()),
    }
}

fn client() -> RegistryClient {
    let mut options = RegistryOptions::new();
    options.timeout = Duration::from_secs(20);
    RegistryClient::new(options)
}

/// Every blob of `image` the registry stores hashes to its digest, and a pull into an
/// empty store (which verifies each blob) gives the same image
fn assert_intact(registry: &Registry, image: &Image, reference: &str, work: &Path) {
    for digest in image.blobs() {
        let data = registry.blob_data(digest.as_ref());
        let bytes = std::fs::read(&data)
            .unwrap_or_else(|error| panic!("{} is not stored: {error}", data.display()));
        assert_eq!(digest_of(&bytes), digest, "{} is corrupt", data.display());
    }
    let store = BlobStore::open(work.join(format!("pulled-{}", reference.len()))).unwrap();
    let pulled = client()
        .pull(&Reference::parse(reference).unwrap(), &store, &|_| {})
        .unwrap();
    assert_eq!(pulled.image.digest(), image.digest());
    assert_eq!(
        digest_of(&registry.raw_manifest(reference.split_once('/').unwrap().1)),
        *image.digest()
    );
}

fn state_files(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|entry| entry.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Pushes `image`, killing the registry once `kill_after` chunks of the layer have landed
fn push_until_killed(
    registry: &mut Registry,
    store: &BlobStore,
    image: &Image,
    dest: &Reference,
    options: &PushOptions,
    kill_after: usize,
) -> RegistryError {
    let registry = RefCell::new(registry);
    let sent = RefCell::new(0);
    let error = client()
        .push(store, image, &[], dest, options, &|message| {
            if message.contains(" sent") {
                *sent.borrow_mut() += 1;
                if *sent.borrow() == kill_after {
                    registry.borrow_mut().stop();
                }
            }
        })
        .unwrap_err();
    assert_eq!(*sent.borrow(), kill_after, "{error}");
    error
}

fn push_logged(
    store: &BlobStore,
    image: &Image,
    dest: &Reference,
    options: &PushOptions,
) -> (Pushed, Vec<String>) {
    let log = RefCell::new(Vec::new());
    let pushed = client()
        .push(store, image, &[], dest, options, &|message| {
            log.borrow_mut().push(message.to_owned())
        })
        .unwrap();
    (pushed, log.into_inner())
}

#[test]
fn an_upload_cut_by_a_registry_crash_resumes_after_the_restart() {
    if !distribution::tools_present() {
        return;
    }
    let mut registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(work.path().join("store")).unwrap();
    let image = big_image(&store, work.path(), 12);
    let layer_size = image.layers()[0].size();
    let state = work.path().join("state");
    let reference = format!("{}/crash/app:v1", registry.host);
    let dest = Reference::parse(&reference).unwrap();

    let error = push_until_killed(&mut registry, &store, &image, &dest, &options(&state, 2), 5);
    assert!(
        matches!(
            error,
            RegistryError::Unreachable { .. } | RegistryError::Transfer { .. }
        ),
        "{error}"
    );
    assert_eq!(state_files(&state).len(), 1, "the upload is recorded");

    registry.restart();
    let (pushed, log) = push_logged(&store, &image, &dest, &options(&state, 2));
    assert!(
        log.iter().any(|line| line.starts_with("resuming blob")),
        "{log:#?}"
    );
    // The config blob was uploaded before the crash; only the rest of the layer is sent
    assert_eq!(pushed.blobs_skipped, 1, "{pushed:?}");
    assert_eq!(pushed.blobs_uploaded, 1, "{pushed:?}");
    assert_eq!(pushed.bytes_uploaded, layer_size - 5 * MIB as u64);
    assert!(state_files(&state).is_empty(), "the record is removed");
    assert_intact(&registry, &image, &reference, work.path());
}

#[test]
fn an_upload_the_registry_lost_starts_over_cleanly() {
    if !distribution::tools_present() {
        return;
    }
    let mut registry = Registry::start(false);
    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(work.path().join("store")).unwrap();
    let image = big_image(&store, work.path(), 6);
    let layer_size = image.layers()[0].size();
    let state = work.path().join("state");
    let reference = format!("{}/lost/app:v1", registry.host);
    let dest = Reference::parse(&reference).unwrap();

    push_until_killed(&mut registry, &store, &image, &dest, &options(&state, 1), 3);
    // The registry comes back without its upload sessions (purged, or another replica)
    let uploads = registry
        .storage()
        .join("docker/registry/v2/repositories/lost/app/_uploads");
    assert!(uploads.is_dir(), "{}", uploads.display());
    std::fs::remove_dir_all(&uploads).unwrap();
    registry.restart();

    let (pushed, log) = push_logged(&store, &image, &dest, &options(&state, 1));
    assert!(
        log.iter()
            .any(|line| line.contains("is gone; starting over")),
        "{log:#?}"
    );
    assert_eq!(pushed.bytes_uploaded, layer_size);
    assert!(state_files(&state).is_empty());
    assert_intact(&registry, &image, &reference, work.path());
}

/// A proxy in front of the registry that answers some requests itself with an error
/// status, once each: `(method, a part of the path, status)`
struct FaultyProxy {
    host: String,
    faults: Arc<Mutex<Vec<(String, String, u16)>>>,
    injected: Arc<Mutex<Vec<String>>>,
}

impl FaultyProxy {
    fn start(upstream: &str, faults: &[(&str, &str, u16)]) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let faults = Arc::new(Mutex::new(
            faults
                .iter()
                .map(|(method, path, status)| ((*method).into(), (*path).into(), *status))
                .collect::<Vec<_>>(),
        ));
        let injected = Arc::new(Mutex::new(Vec::new()));
        let (shared, seen, upstream) = (
            Arc::clone(&faults),
            Arc::clone(&injected),
            upstream.to_owned(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (shared, seen, upstream) =
                    (Arc::clone(&shared), Arc::clone(&seen), upstream.clone());
                std::thread::spawn(move || {
                    let _ = relay(stream, &upstream, &shared, &seen);
                });
            }
        });
        FaultyProxy {
            host,
            faults,
            injected,
        }
    }
}

/// One request per connection: answered with a fault, or sent on with `Connection: close`
/// and the registry's whole answer relayed back
fn relay(
    client: TcpStream,
    upstream: &str,
    faults: &Mutex<Vec<(String, String, u16)>>,
    injected: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut length = 0usize;
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if request_line.is_empty() {
            request_line = line.trim_end().to_owned();
            head.push(line);
            continue;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let fault = {
        let mut faults = faults.lock().unwrap();
        let found = faults
            .iter()
            .position(|(m, part, _)| m == method && path.contains(part.as_str()));
        found.map(|index| faults.remove(index).2)
    };
    let mut client = client;
    if let Some(status) = fault {
        injected
            .lock()
            .unwrap()
            .push(format!("{status} {method} {path}"));
        let body = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected\"}]}";
        write!(
            client,
            "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream)?;
    for line in &head {
        server.write_all(line.as_bytes())?;
    }
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    client.write_all(&answer)?;
    Ok(())
}

#[test]
fn transient_registry_errors_are_retried_and_leave_sound_blobs() {
    if !distribution::tools_present() {
        return;
    }
    let registry = Registry::start(false);
    let proxy = FaultyProxy::start(
        &registry.host,
        &[
            ("HEAD", "/blobs/", 503),
            ("POST", "/blobs/uploads/", 502),
            ("PATCH", "/blobs/uploads/", 503),
            ("PATCH", "/blobs/uploads/", 500),
            ("PUT", "digest=", 500),
            ("PUT", "/manifests/", 429),
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let store = BlobStore::open(work.path().join("store")).unwrap();
    let image = big_image(&store, work.path(), 3);
    let state = work.path().join("state");
    let dest = Reference::parse(&format!("{}/flaky/app:v1", proxy.host)).unwrap();

    let (pushed, _) = push_logged(&store, &image, &dest, &options(&state, 3));
    assert_eq!(pushed.blobs_uploaded, 2, "{pushed:?}");
    assert!(
        proxy.faults.lock().unwrap().is_empty(),
        "every fault was met: {:?}",
        proxy.injected.lock().unwrap()
    );
    assert_eq!(proxy.injected.lock().unwrap().len(), 6);
    let direct = format!("{}/flaky/app:v1", registry.host);
    assert_intact(&registry, &image, &direct, work.path());

    // Past the retries the push fails, naming the status, and the next run completes
    let again = FaultyProxy::start(&registry.host, &[("HEAD", "/manifests/", 503); 3]);
    let dest = Reference::parse(&format!("{}/flaky/app:v2", again.host)).unwrap();
    let error = client()
        .push(&store, &image, &[], &dest, &options(&state, 2), &|_| {})
        .unwrap_err();
    assert!(error.to_string().contains("503"), "{error}");
    let (pushed, _) = push_logged(&store, &image, &dest, &options(&state, 2));
    assert_eq!(pushed.blobs_skipped, 2, "{pushed:?}");
}
