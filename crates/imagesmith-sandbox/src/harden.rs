//! What a step may do: the capabilities it keeps and the system calls it cannot make
//!
//! A step keeps Docker's default capability set (enough for package managers: `chown`,
//! `setuid` to their sandbox users, `setcap` in maintainer scripts) and runs with
//! `no_new_privs`, under a seccomp filter that fails the calls no build needs and that reach
//! state shared with the host (the kernel keyring, modules, kexec, swap, BPF, perf) with
//! `EPERM`. Most of them already need a dropped capability; the filter is the second wall.
//!
//! The filter is a handful of classic BPF instructions written here rather than generated
//! by a library: `seccompiler` kills a process whose system call comes from another
//! architecture, which would kill 32-bit programs an image may run; here their calls are
//! filtered by their own numbers.

/// A Linux capability kept by every step, with its number
pub type Capability = (&'static str, u32);

/// Docker's default capability set, the only capabilities a step has
pub const DEFAULT_CAPABILITIES: &[Capability] = &[
    ("CAP_CHOWN", 0),
    ("CAP_DAC_OVERRIDE", 1),
    ("CAP_FOWNER", 3),
    ("CAP_FSETID", 4),
    ("CAP_KILL", 5),
    ("CAP_SETGID", 6),
    ("CAP_SETUID", 7),
    ("CAP_SETPCAP", 8),
    ("CAP_NET_BIND_SERVICE", 10),
    ("CAP_NET_RAW", 13),
    ("CAP_SYS_CHROOT", 18),
    ("CAP_MKNOD", 27),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];

/// [`DEFAULT_CAPABILITIES`] as a bit mask (bit N is capability N): `0xa80425fb`
pub fn default_capability_mask() -> u64 {
    DEFAULT_CAPABILITIES
        .iter()
        .fold(0, |mask, (_, number)| mask | 1 << number)
}

/// The system calls a step cannot make; each fails with `EPERM`
pub const DENIED_SYSCALLS: &[&str] = &[
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "reboot",
    "swapon",
    "swapoff",
    "open_by_handle_at",
];

/// One classic BPF instruction (`struct sock_filter`)
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    /// The operation
    pub code: u16,
    /// Where to jump when true
    pub jt: u8,
    /// Where to jump when false
    pub jf: u8,
    /// The operand
    pub k: u32,
}

/// A seccomp filter program
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeccompProgram {
    /// The instructions
    pub instructions: Vec<SockFilter>,
}

const LOAD_WORD: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64", test))]
const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
#[cfg(target_arch = "x86_64")]
const JUMP_IF_AT_LEAST: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RETURN: u16 = 0x06; // BPF_RET | BPF_K
/// Offsets in `struct seccomp_data`
const SYSCALL_NUMBER: u32 = 0;
const ARCHITECTURE: u32 = 4;
/// `SECCOMP_RET_ALLOW`
pub const ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO | EPERM`
pub const DENY: u32 = 0x0005_0000 | libc::EPERM as u32;

/// `AUDIT_ARCH_*`
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(any(target_arch = "aarch64", test))]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// The x32 ABI's calls carry this bit on `AUDIT_ARCH_X86_64`
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// The denied calls' numbers on i386, which x86_64 kernels also run
#[cfg(target_arch = "x86_64")]
const I386_DENIED: &[u32] = &[
    283, // kexec_load
    128, // init_module
    350, // finit_module
    129, // delete_module
    357, // bpf
    336, // perf_event_open
    288, // keyctl
    286, // add_key
    287, // request_key
    26,  // ptrace
    88,  // reboot
    87,  // swapon
    115, // swapoff
    342, // open_by_handle_at
];

/// The denied calls' numbers on this machine's architecture, in [`DENIED_SYSCALLS`] order
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn native_denied() -> [u32; 15] {
    [
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_ptrace,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_open_by_handle_at,
    ]
    .map(|number| number as u32)
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn statement(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Instructions denying `numbers` (the accumulator holds the system call number), then
/// allowing everything else
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn deny_numbers(numbers: &[u32]) -> Vec<SockFilter> {
    let mut block = Vec::new();
    for number in numbers {
        block.push(jump(JUMP_IF_EQUAL, *number, 0, 1));
        block.push(statement(RETURN, DENY));
    }
    block.push(statement(RETURN, ALLOW));
    block
}

/// A block for one architecture: if the architecture (in the accumulator) is `arch`, load
/// the call number and run `body`, otherwise skip to what follows
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn for_architecture(arch: u32, body: Vec<SockFilter>) -> Vec<SockFilter> {
    let mut block = Vec::with_capacity(body.len() + 2);
    // A BPF jump reaches at most 255 instructions ahead: 15 calls need 32
    let skip = u8::try_from(body.len() + 1).unwrap_or(u8::MAX);
    block.push(jump(JUMP_IF_EQUAL, arch, 0, skip));
    block.push(statement(LOAD_WORD, SYSCALL_NUMBER));
    block.extend(body);
    block
}

/// The filter denying [`DENIED_SYSCALLS`] on this architecture (and on i386 on x86_64);
/// calls from any other architecture are denied altogether. `None` on architectures other
/// than x86_64 and aarch64, where steps run without a filter
pub fn seccomp_program() -> Option<SeccompProgram> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut instructions = vec![statement(LOAD_WORD, ARCHITECTURE)];
        let mut native = vec![
            // x32 calls: none are needed, and they would need their own numbers
            jump(JUMP_IF_AT_LEAST, X32_SYSCALL_BIT, 0, 1),
            statement(RETURN, DENY),
        ];
        native.extend(deny_numbers(&native_denied()));
        instructions.extend(for_architecture(AUDIT_ARCH_X86_64, native));
        instructions.extend(for_architecture(AUDIT_ARCH_I386, deny_numbers(I386_DENIED)));
        instructions.push(statement(RETURN, DENY));
        Some(SeccompProgram { instructions })
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut instructions = vec![statement(LOAD_WORD, ARCHITECTURE)];
        instructions.extend(for_architecture(
            AUDIT_ARCH_AARCH64,
            deny_numbers(&native_denied()),
        ));
        instructions.push(statement(RETURN, DENY));
        Some(SeccompProgram { instructions })
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a filter on one system call, as the kernel would
    fn evaluate(program: &SeccompProgram, arch: u32, number: u32) -> u32 {
        let mut accumulator = 0u32;
        let mut pc = 0usize;
        loop {
            let instruction = program.instructions[pc];
            match instruction.code {
                LOAD_WORD => {
                    accumulator = match instruction.k {
                        SYSCALL_NUMBER => number,
                        ARCHITECTURE => arch,
                        other => panic!("load of offset {other}"),
                    }
                }
                JUMP_IF_EQUAL | 0x35 => {
                    let taken = if instruction.code == JUMP_IF_EQUAL {
                        accumulator == instruction.k
                    } else {
                        accumulator >= instruction.k
                    };
                    pc += usize::from(if taken {
                        instruction.jt
                    } else {
                        instruction.jf
                    });
                }
                RETURN => return instruction.k,
                other => panic!("unknown instruction {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn docker_default_capabilities() {
        assert_eq!(default_capability_mask(), 0xa804_25fb);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn denies_the_listed_calls_on_x86_64_and_i386_only() {
        let program = seccomp_program().unwrap();
        assert!(program.instructions.len() < 100);
        for number in native_denied() {
            assert_eq!(
                evaluate(&program, AUDIT_ARCH_X86_64, number),
                DENY,
                "{number}"
            );
        }
        for number in I386_DENIED {
            assert_eq!(
                evaluate(&program, AUDIT_ARCH_I386, *number),
                DENY,
                "{number}"
            );
        }
        for allowed in [
            libc::SYS_read,
            libc::SYS_openat,
            libc::SYS_chown,
            libc::SYS_setresuid,
            libc::SYS_clone3,
            libc::SYS_mount,
        ] {
            assert_eq!(evaluate(&program, AUDIT_ARCH_X86_64, allowed as u32), ALLOW);
        }
        // i386's read, open, chown32
        for allowed in [3, 5, 212] {
            assert_eq!(evaluate(&program, AUDIT_ARCH_I386, allowed), ALLOW);
        }
        assert_eq!(
            evaluate(&program, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1),
            DENY
        );
        assert_eq!(evaluate(&program, AUDIT_ARCH_AARCH64, 0), DENY);
        assert_eq!(native_denied().len(), DENIED_SYSCALLS.len());
        assert_eq!(I386_DENIED.len() + 1, DENIED_SYSCALLS.len());
    }
}
