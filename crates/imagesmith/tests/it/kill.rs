//! Every kill is survivable (issue #8): `kill -9` of the build's process group at each
//! stage (bootstrap download, bootstrap dpkg, a component step, layer compression, output
//! write) leaves no mount in the host's mount namespace and no process, and the next build
//! succeeds with the digest (and the very bytes) of an uninterrupted one
//!
//! The cheapest build that has every stage: a project recipe on `debian:12` (bootstrapped
//! from the Debian mirror by mmdebstrap) with one project component whose build step sleeps
//! a moment, written as an oci-archive, with no test phase. An uninterrupted reference
//! build runs in a cache of its own; then one cache is killed at each stage in turn, each
//! killed build being the "next build" of the one before (so each stage is also reached
//! after a kill), and a last build there must match the reference. The bootstrap stages are
//! found by polling for the build's `apt-get` and `dpkg` (with mmdebstrap's mounts in
//! place); the step by its `sleep`; compression and output by the binary's testing hook
//! `IMAGESMITH_PAUSE_AT`. Two more kills at compression take only the outer process down,
//! once with SIGKILL (the parent-death signals take the rest) and once with SIGTERM (passed
//! on to the build, whose exit code `143` comes back).
//!
//! Needs root and mmdebstrap (and the Debian mirror): skips with the reason otherwise,
//! fails under `CI=true`. Run alone with `cargo nextest run -p imagesmith -E 'test(kill)'`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

const IMAGE: &str = "kill-test";
/// The step's sleep, an unusual number so its process is recognisable
const STEP_SLEEP: &str = "2.71828";
/// Carried by the environment of the build and whatever inherits it
const MARKER: &str = "IMAGESMITH_KILL_TEST";

fn prerequisites() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err(String::from("not root"));
    }
    if Command::new("mmdebstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(String::from(
            "`mmdebstrap` is not installed (bash .ci/install-tools)",
        ));
    }
    Ok(())
}

fn write_project(dir: &Path) {
    for sub in ["specs", "components", "recipes"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(
        dir.join("imagesmith.yaml"),
        "kind: project\nname: kill-test\nos: [debian12]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("recipes/{IMAGE}.yaml")),
        format!(
            "kind: recipe\nname: {IMAGE}\ndescription: The smallest Debian 12 build with a step\nimage_type: container\nos: debian12\nbase_image: debian:12\nversion: 1.0.0\ncomponents:\n  sleeper: 1.0.0\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("components/sleeper.yaml"),
        format!(
            r#"kind: component
name: sleeper
description: Sleeps a moment, then writes a file
category: security
versions:
  syntax: semver
  default: 1.0.0
  supported: [1.0.0]
platforms:
  debian12:
    artifact:
      type: package
      names: [coreutils]
    document:
      name: sleeper
      schemaVersion: "1.0"
      phases:
        - name: build
          steps:
            - name: Sleep
              action: ExecuteBash
              inputs:
                commands:
                  - sleep {STEP_SLEEP}
                  - echo slept > /etc/kill-test
"#
        ),
    )
    .unwrap();
    imagesmith_cli::project::lock_project(dir).expect("the project locks");
}

/// The test's directories, under `/var/tmp` (overlayfs cannot use a tmpfs upper everywhere)
struct Dirs {
    work: tempfile::TempDir,
    project: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let work = tempfile::Builder::new()
            .prefix("imagesmith-kill-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let project = work.path().join("project");
        write_project(&project);
        Dirs { work, project }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

/// A running build: the binary, leader of its own process group
struct Build {
    child: Child,
    stderr: PathBuf,
    marker: String,
    /// Its cache and output directories
    scope: Vec<PathBuf>,
}

fn start(dirs: &Dirs, cache: &str, out: &str, run: &str, pause: Option<&str>) -> Build {
    let stderr = dirs.path(&format!("{run}.stderr"));
    let marker = format!("{MARKER}={}-{run}", std::process::id());
    let mut command = Command::new(env!("CARGO_BIN_EXE_imagesmith"));
    command
        .args(["build", IMAGE, "--no-test", "--json", "--cache-dir"])
        .arg(dirs.path(cache))
        .arg("--output")
        .arg(dirs.path(out))
        .args(["--output-format", "oci-archive"])
        .current_dir(&dirs.project)
        .env(MARKER, marker.split_once('=').unwrap().1)
        .env("NO_COLOR", "1")
        .env("IMAGESMITH_TODAY", crate::TODAY)
        .env_remove("IMAGESMITH_PAUSE_AT")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dirs.path(&format!("{run}.stdout"))).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .process_group(0);
    if let Some(stage) = pause {
        command.env("IMAGESMITH_PAUSE_AT", stage);
    }
    Build {
        child: command.spawn().unwrap(),
        stderr,
        marker,
        scope: vec![dirs.path(cache), dirs.path(out)],
    }
}

impl Build {
    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits until `reached` says the stage is reached; fails if the build ends first
    fn wait_for(&mut self, stage: &str, reached: impl Fn(&Build) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while !reached(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the build ended ({status}) before `{stage}`:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no `{stage}` in 600 s:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The build's processes on the host (see [`belongs`])
    fn processes(&self) -> Vec<Process> {
        processes()
            .into_iter()
            .filter(|process| belongs(process, &self.marker, &self.scope))
            .collect()
    }
}

/// What the test knows of a process
#[derive(Debug)]
struct Process {
    pid: i32,
    comm: String,
    cmdline: String,
    environ: Vec<u8>,
    links: Vec<PathBuf>,
}

fn processes() -> Vec<Process> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let base = PathBuf::from(format!("/proc/{pid}"));
            let comm = std::fs::read_to_string(base.join("comm")).ok()?;
            Some(Process {
                pid,
                comm: comm.trim().to_owned(),
                cmdline: std::fs::read(base.join("cmdline"))
                    .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
                    .unwrap_or_default(),
                environ: std::fs::read(base.join("environ")).unwrap_or_default(),
                links: ["cwd", "root", "exe"]
                    .iter()
                    .filter_map(|link| std::fs::read_link(base.join(link)).ok())
                    .collect(),
            })
        })
        .collect()
}

/// A process of the build: it carries the marker, or its command line, working directory,
/// root or program is in its cache or output directory, or it is the step's `sleep` (the
/// sandboxed steps get a clean environment)
fn belongs(process: &Process, marker: &str, scope: &[PathBuf]) -> bool {
    process
        .environ
        .split(|byte| *byte == 0)
        .any(|variable| variable == marker.as_bytes())
        || scope.iter().any(|dir| {
            process.cmdline.contains(&format!("{} ", dir.display()))
                || process.cmdline.contains(&format!("{}/", dir.display()))
                || process.links.iter().any(|link| link.starts_with(dir))
        })
        || (process.comm == "sleep" && process.cmdline.contains(STEP_SLEEP))
}

/// The mounts under `dir` in the mount namespaces of `pid`'s threads (a build thread has
/// a mount namespace of its own for its overlays)
fn mounts_of(pid: &str, dir: &Path) -> Vec<String> {
    let dir = dir.display().to_string();
    let mut files = vec![PathBuf::from(format!("/proc/{pid}/mountinfo"))];
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        files.extend(tasks.flatten().map(|task| task.path().join("mountinfo")));
    }
    let mut found: Vec<String> = files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter(|line| {
                    line.split(' ')
                        .nth(4)
                        .is_some_and(|point| point.starts_with(&dir))
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether `pid` is `ancestor` or one of its descendants (parent pids as this namespace
/// sees them, across the build's pid namespace)
fn descends_from(pid: i32, ancestor: Pid) -> bool {
    let mut current = pid;
    for _ in 0..64 {
        if current == ancestor.as_raw() {
            return true;
        }
        let status = std::fs::read_to_string(format!("/proc/{current}/status")).unwrap_or_default();
        let Some(parent) = status
            .lines()
            .find_map(|line| line.strip_prefix("PPid:"))
            .and_then(|value| value.trim().parse::<i32>().ok())
        else {
            return false;
        };
        if parent <= 1 {
            return false;
        }
        current = parent;
    }
    false
}

/// Kills the build as `how` says, waits for it, and checks that nothing is left: no
/// process of it, no mount under the test's directories in this (the host's) mount
/// namespace. Returns the outer process's exit status.
fn kill_and_check(
    mut build: Build,
    dirs: &Dirs,
    stage: &str,
    how: Kill,
) -> std::process::ExitStatus {
    let work = dirs.work.path();
    let before = build.processes();
    assert!(!before.is_empty(), "no process of the build at `{stage}`");
    // The mounts the build has in its own mount namespace at this moment
    let inside = before
        .iter()
        .map(|process| mounts_of(&process.pid.to_string(), work).len())
        .max()
        .unwrap_or(0);
    match how {
        Kill::Group => killpg(build.pid(), Signal::SIGKILL).unwrap(),
        Kill::Outer(signal) => kill(build.pid(), signal).unwrap(),
    }
    let status = build.child.wait().unwrap();
    // The kernel ends a pid namespace's processes asynchronously: a generous bound
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = build.processes();
        let mounts = mounts_of("self", work);
        if left.is_empty() && mounts.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after a kill at `{stage}`: processes left {left:#?}, mounts left {mounts:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "killed at `{stage}` ({how:?}): {} processes and {inside} mounts under the test's directories in the build's namespace before, none left after",
        before.len()
    );
    status
}

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// SIGKILL to the whole process group
    Group,
    /// A signal to the outer process only
    Outer(Signal),
}

fn paused_at(stage: &'static str) -> impl Fn(&Build) -> bool {
    move |build| {
        build
            .stderr()
            .contains(&format!("imagesmith: paused at `{stage}`"))
    }
}

fn has_process(comm: &'static str) -> impl Fn(&Build) -> bool {
    move |build| build.processes().iter().any(|process| process.comm == comm)
}

/// The image digest of a finished build's JSON summary
fn digest(dirs: &Dirs, run: &str) -> String {
    let text = std::fs::read_to_string(dirs.path(&format!("{run}.stdout"))).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    summary["images"][0]["digest"].as_str().unwrap().to_owned()
}

fn finish(mut build: Build, dirs: &Dirs, run: &str) -> (String, std::time::Duration) {
    let started = Instant::now();
    let status = build.child.wait().unwrap();
    assert!(
        status.success(),
        "{run} failed ({status}):\n{}",
        build.stderr()
    );
    (digest(dirs, run), started.elapsed())
}

/// Temporary files anywhere under `dir` (`.tmp-*`, `.NAME.tmp-*`)
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp-") {
                found.push(entry.path());
            }
            // Not into image trees: only the cache's own directories
            if entry.file_type().is_ok_and(|kind| kind.is_dir())
                && !matches!(name.as_str(), "u" | "b" | "w" | "http")
            {
                stack.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn kill_at_every_stage_leaves_nothing_and_the_next_build_matches() {
    if let Err(reason) = prerequisites() {
        if crate::required() {
            panic!("kill test prerequisites missing in CI: {reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    let started = Instant::now();
    let dirs = Dirs::new();

    // The uninterrupted build, in a cache of its own, meanwhile the bootstrap is killed and
    // bootstrapped again (bootstraps mostly wait for the mirror)
    let reference = start(&dirs, "reference-cache", "reference-out", "reference", None);

    // 1. Bootstrap download: mmdebstrap's apt-get, before any dpkg
    let mut build = start(&dirs, "cache", "out", "download", None);
    build.wait_for("bootstrap download", has_process("apt-get"));
    kill_and_check(build, &dirs, "bootstrap download", Kill::Group);

    // 2. Bootstrap dpkg, with mmdebstrap's proc/sys/dev mounts in the build's namespace
    //    (where the kill used to leave them in the host's)
    let mut build = start(&dirs, "cache", "out", "dpkg", None);
    let cache = dirs.path("cache");
    build.wait_for("bootstrap dpkg", |build| {
        let processes = build.processes();
        processes.iter().any(|process| process.comm == "dpkg")
            && processes.iter().any(|process| {
                process.comm == "mmdebstrap"
                    && !mounts_of(&process.pid.to_string(), &cache).is_empty()
            })
    });
    kill_and_check(build, &dirs, "bootstrap dpkg", Kill::Group);

    // 3. A component step (the bootstrap completes first, in this build, while the
    //    reference build may still run: its step is told apart by its ancestry)
    let mut build = start(&dirs, "cache", "out", "step", None);
    build.wait_for("step", |build| {
        build.processes().iter().any(|process| {
            process.comm == "sleep"
                && process.cmdline.contains(STEP_SLEEP)
                && descends_from(process.pid, build.pid())
        })
    });
    kill_and_check(build, &dirs, "step", Kill::Group);
    let (reference_digest, seconds) = finish(reference, &dirs, "reference");
    eprintln!(
        "uninterrupted build: done {:.1} s after the step kill",
        seconds.as_secs_f64()
    );

    // 4. Layer compression: the step's layer is half written into a temporary blob
    let mut build = start(&dirs, "cache", "out", "compress", Some("compress"));
    build.wait_for("compress", paused_at("compress"));
    kill_and_check(build, &dirs, "layer compression", Kill::Group);
    // Only the outer process, by SIGKILL: the parent-death signals take the rest down
    let mut build = start(&dirs, "cache", "out", "compress-outer", Some("compress"));
    build.wait_for("compress", paused_at("compress"));
    kill_and_check(
        build,
        &dirs,
        "layer compression",
        Kill::Outer(Signal::SIGKILL),
    );
    // Only the outer process, by SIGTERM: passed on to the build, whose death by it
    // comes back as `128 + 15`
    let mut build = start(&dirs, "cache", "out", "compress-term", Some("compress"));
    build.wait_for("compress", paused_at("compress"));
    let status = kill_and_check(
        build,
        &dirs,
        "layer compression",
        Kill::Outer(Signal::SIGTERM),
    );
    assert_eq!(status.code(), Some(143), "{status}");

    // 5. Output write: the archive is half written to its temporary file
    let mut build = start(&dirs, "cache", "out", "output", Some("write-archive"));
    build.wait_for("write-archive", paused_at("write-archive"));
    kill_and_check(build, &dirs, "output write", Kill::Group);

    // The next build succeeds, with the uninterrupted build's digest and bytes, and
    // leaves no temporary file of the killed ones
    let build = start(&dirs, "cache", "out", "final", None);
    let (final_digest, seconds) = finish(build, &dirs, "final");
    eprintln!("build after the kills: {:.1} s", seconds.as_secs_f64());
    assert_eq!(final_digest, reference_digest);
    let archive = format!("{IMAGE}.oci.tar");
    let same = std::fs::read(dirs.path("out").join(&archive)).unwrap()
        == std::fs::read(dirs.path("reference-out").join(&archive)).unwrap();
    assert!(same, "the archives differ");
    let left = temporaries(&cache);
    assert!(
        left.is_empty(),
        "temporary files left in the cache: {left:#?}"
    );
    let left = temporaries(&dirs.path("out"));
    assert!(
        left.is_empty(),
        "temporary files left in the output: {left:#?}"
    );
    eprintln!("kill test: {:.1} s in all", started.elapsed().as_secs_f64());
}
