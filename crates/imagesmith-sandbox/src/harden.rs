//! What a step may do: the capabilities it keeps and the system calls it cannot make
//!
//! A step keeps Docker's default capability set without `CAP_NET_RAW` (as podman's default:
//! enough for package managers to `chown`, `setuid` to their sandbox users and `setcap` in
//! maintainer scripts, but no raw IP or packet sockets), and runs with `no_new_privs`, under
//! a seccomp filter modelled on Docker's default profile. The filter fails with `EPERM` the
//! calls no build needs and that reach state shared with the host: the kernel keyring,
//! modules, kexec, swap, BPF, perf, ptrace, the kernel log, mounts in any form (old and new
//! mount API), `setns`, `userfaultfd`; and, by their arguments, new namespaces from `clone`
//! and `unshare` (`CLONE_NEWUSER` above all: root in a new user namespace could mount),
//! terminal input injection (`ioctl` `TIOCSTI`, `TIOCLINUX`), `AF_PACKET` sockets, `mknod`
//! of block devices and `personality` values other than Docker's. `clone3`, whose flags are
//! in memory a filter cannot read, fails with `ENOSYS`, so the C library falls back to
//! `clone`, as under Docker. Most of these already need a dropped capability; the filter
//! is the second wall.
//!
//! Character devices may still be created with `CAP_MKNOD` (as under Docker: an image may
//! ship them), but every mount a step can write to is `nodev`, so they cannot be opened.
//!
//! i386's `socketcall` multiplexes the socket calls with their arguments in memory, so its
//! `AF_PACKET` cannot be filtered; it stays allowed (as in Docker's profile), and packet
//! sockets still fail there because `CAP_NET_RAW` is gone.
//!
//! The filter is a few dozen classic BPF instructions written here rather than generated
//! by a library: `seccompiler` kills a process whose system call comes from another
//! architecture, which would kill 32-bit programs an image may run; here their calls are
//! filtered by their own numbers. Arguments are compared on their low 32 bits (the word
//! at offset `16 + 8 * N` of `struct seccomp_data` on little-endian machines): every
//! argument checked is an `int` or `unsigned int` to the kernel (`ioctl`'s request,
//! `socket`'s family, `mknod`'s mode, `personality`) or has all its flags there (`clone`,
//! `unshare`), so the high word cannot be used to slip past a check.

/// A Linux capability kept by every step, with its number
pub type Capability = (&'static str, u32);

/// Docker's default capability set without `CAP_NET_RAW`, the only capabilities a step has
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
    ("CAP_SYS_CHROOT", 18),
    ("CAP_MKNOD", 27),
    ("CAP_AUDIT_WRITE", 29),
    ("CAP_SETFCAP", 31),
];

/// [`DEFAULT_CAPABILITIES`] as a bit mask (bit N is capability N): `0xa80405fb`
pub fn default_capability_mask() -> u64 {
    DEFAULT_CAPABILITIES
        .iter()
        .fold(0, |mask, (_, number)| mask | 1 << number)
}

/// The system calls a step cannot make at all; each fails with `EPERM`
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
    "syslog",
    "setns",
    "userfaultfd",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
];

/// The namespace flags of `clone(2)`: mount, cgroup, uts, ipc, user, pid, network (Docker's
/// profile allows none without `CAP_SYS_ADMIN`)
pub const CLONE_NAMESPACE_FLAGS: u32 = 0x7e02_0000;
/// The namespace flags of `unshare(2)`: those of `clone` and `CLONE_NEWTIME`
pub const UNSHARE_NAMESPACE_FLAGS: u32 = CLONE_NAMESPACE_FLAGS | 0x80;
/// `ioctl` requests that push input into a terminal: `TIOCSTI`, `TIOCLINUX`
pub const TERMINAL_INJECTION: &[u32] = &[0x5412, 0x541c];
/// `AF_PACKET`: sockets seeing every frame of an interface
pub const PACKET_SOCKETS: &[u32] = &[17];
/// The `personality(2)` values Docker's profile allows: `PER_LINUX`, `PER_LINUX32`,
/// `UNAME26`, `PER_LINUX32 | UNAME26` and the query `0xffffffff`
pub const ALLOWED_PERSONALITIES: &[u32] = &[0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];
/// `S_IFMT` and `S_IFBLK`
const FILE_TYPE: u32 = 0o170_000;
const BLOCK_DEVICE: u32 = 0o060_000;

/// What the filter checks of one system call's arguments
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Refused whatever its arguments
    Always,
    /// Refused when argument `arg` has any bit of `mask`
    AnyBit {
        /// The argument, from 0
        arg: u8,
        /// The bits
        mask: u32,
    },
    /// Refused when argument `arg`, masked with `mask`, is `value`
    Masked {
        /// The argument, from 0
        arg: u8,
        /// The mask
        mask: u32,
        /// The refused value
        value: u32,
    },
    /// Refused when argument `arg` is one of `values`
    OneOf {
        /// The argument, from 0
        arg: u8,
        /// The refused values
        values: &'static [u32],
    },
    /// Refused unless argument `arg` is one of `values`
    AllBut {
        /// The argument, from 0
        arg: u8,
        /// The allowed values
        values: &'static [u32],
    },
}

/// One system call the filter refuses, wholly or by its arguments
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Its name (as in `man 2`)
    pub name: &'static str,
    /// When it is refused
    pub check: Check,
    /// The error it then fails with
    pub errno: i32,
}

/// The calls refused by their arguments (with [`DENIED_SYSCALLS`], refused always, the
/// whole filter)
pub const ARGUMENT_RULES: &[Rule] = &[
    Rule {
        name: "clone",
        check: Check::AnyBit {
            arg: 0,
            mask: CLONE_NAMESPACE_FLAGS,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "unshare",
        check: Check::AnyBit {
            arg: 0,
            mask: UNSHARE_NAMESPACE_FLAGS,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "clone3",
        check: Check::Always,
        errno: libc::ENOSYS,
    },
    Rule {
        name: "ioctl",
        check: Check::OneOf {
            arg: 1,
            values: TERMINAL_INJECTION,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "socket",
        check: Check::OneOf {
            arg: 0,
            values: PACKET_SOCKETS,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "mknod",
        check: Check::Masked {
            arg: 1,
            mask: FILE_TYPE,
            value: BLOCK_DEVICE,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "mknodat",
        check: Check::Masked {
            arg: 2,
            mask: FILE_TYPE,
            value: BLOCK_DEVICE,
        },
        errno: libc::EPERM,
    },
    Rule {
        name: "personality",
        check: Check::AllBut {
            arg: 0,
            values: ALLOWED_PERSONALITIES,
        },
        errno: libc::EPERM,
    },
];

/// Every rule of the filter, in its order
pub fn rules() -> Vec<Rule> {
    DENIED_SYSCALLS
        .iter()
        .map(|name| Rule {
            name,
            check: Check::Always,
            errno: libc::EPERM,
        })
        .chain(ARGUMENT_RULES.iter().copied())
        .collect()
}

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
const JUMP: u16 = 0x05; // BPF_JMP | BPF_JA
const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
#[cfg(any(target_arch = "x86_64", test))]
const JUMP_IF_AT_LEAST: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JUMP_IF_ANY_BIT: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const AND: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RETURN: u16 = 0x06; // BPF_RET | BPF_K
/// Offsets in `struct seccomp_data`
const SYSCALL_NUMBER: u32 = 0;
const ARCHITECTURE: u32 = 4;
/// The low word of argument 0 (little-endian); argument N is 8 bytes further each
const ARGUMENTS: u32 = 16;
/// `SECCOMP_RET_ALLOW`
pub const ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO`, to be or-ed with the error number
const RETURN_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_ERRNO | EPERM`
pub const DENY: u32 = RETURN_ERRNO | libc::EPERM as u32;

/// `AUDIT_ARCH_*`
#[cfg(any(target_arch = "x86_64", test))]
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
#[cfg(any(target_arch = "x86_64", test))]
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
#[cfg(any(target_arch = "aarch64", test))]
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// The x32 ABI's calls carry this bit on `AUDIT_ARCH_X86_64`
#[cfg(any(target_arch = "x86_64", test))]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A call's number on i386, which x86_64 kernels also run; `None` for calls i386 lacks
#[cfg(any(target_arch = "x86_64", test))]
fn i386_number(name: &str) -> Option<u32> {
    Some(match name {
        "kexec_load" => 283,
        "kexec_file_load" => return None,
        "init_module" => 128,
        "finit_module" => 350,
        "delete_module" => 129,
        "bpf" => 357,
        "perf_event_open" => 336,
        "keyctl" => 288,
        "add_key" => 286,
        "request_key" => 287,
        "ptrace" => 26,
        "reboot" => 88,
        "swapon" => 87,
        "swapoff" => 115,
        "open_by_handle_at" => 342,
        "syslog" => 103,
        "setns" => 346,
        "userfaultfd" => 374,
        "mount" => 21,
        "umount" => 22,
        "umount2" => 52,
        "pivot_root" => 217,
        "move_mount" => 429,
        "open_tree" => 428,
        "fsopen" => 430,
        "fsconfig" => 431,
        "fsmount" => 432,
        "fspick" => 433,
        "mount_setattr" => 442,
        "clone" => 120,
        "unshare" => 310,
        "clone3" => 435,
        "ioctl" => 54,
        "socket" => 359,
        "mknod" => 14,
        "mknodat" => 297,
        "personality" => 136,
        _ => return None,
    })
}

/// A call's number on this machine's architecture; `None` for calls it lacks
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn native_number(name: &str) -> Option<u32> {
    let number = match name {
        "kexec_load" => libc::SYS_kexec_load,
        "kexec_file_load" => libc::SYS_kexec_file_load,
        "init_module" => libc::SYS_init_module,
        "finit_module" => libc::SYS_finit_module,
        "delete_module" => libc::SYS_delete_module,
        "bpf" => libc::SYS_bpf,
        "perf_event_open" => libc::SYS_perf_event_open,
        "keyctl" => libc::SYS_keyctl,
        "add_key" => libc::SYS_add_key,
        "request_key" => libc::SYS_request_key,
        "ptrace" => libc::SYS_ptrace,
        "reboot" => libc::SYS_reboot,
        "swapon" => libc::SYS_swapon,
        "swapoff" => libc::SYS_swapoff,
        "open_by_handle_at" => libc::SYS_open_by_handle_at,
        "syslog" => libc::SYS_syslog,
        "setns" => libc::SYS_setns,
        "userfaultfd" => libc::SYS_userfaultfd,
        "mount" => libc::SYS_mount,
        "umount2" => libc::SYS_umount2,
        "pivot_root" => libc::SYS_pivot_root,
        "move_mount" => libc::SYS_move_mount,
        "open_tree" => libc::SYS_open_tree,
        "fsopen" => libc::SYS_fsopen,
        "fsconfig" => libc::SYS_fsconfig,
        "fsmount" => libc::SYS_fsmount,
        "fspick" => libc::SYS_fspick,
        "mount_setattr" => libc::SYS_mount_setattr,
        "clone" => libc::SYS_clone,
        "unshare" => libc::SYS_unshare,
        "clone3" => libc::SYS_clone3,
        "ioctl" => libc::SYS_ioctl,
        "socket" => libc::SYS_socket,
        #[cfg(target_arch = "x86_64")]
        "mknod" => libc::SYS_mknod,
        "mknodat" => libc::SYS_mknodat,
        "personality" => libc::SYS_personality,
        _ => return None,
    };
    Some(number as u32)
}

fn statement(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// A conditional jump's offset; every block here is a few instructions long
fn offset(instructions: usize) -> u8 {
    u8::try_from(instructions).unwrap_or(u8::MAX)
}

/// The instructions of `check` once the call number matched: they end in a return
fn check_block(check: Check, refuse: u32) -> Vec<SockFilter> {
    let load = |arg: u8| statement(LOAD_WORD, ARGUMENTS + 8 * u32::from(arg));
    match check {
        Check::Always => vec![statement(RETURN, refuse)],
        Check::AnyBit { arg, mask } => vec![
            load(arg),
            jump(JUMP_IF_ANY_BIT, mask, 0, 1),
            statement(RETURN, refuse),
            statement(RETURN, ALLOW),
        ],
        Check::Masked { arg, mask, value } => vec![
            load(arg),
            statement(AND, mask),
            jump(JUMP_IF_EQUAL, value, 0, 1),
            statement(RETURN, refuse),
            statement(RETURN, ALLOW),
        ],
        Check::OneOf { arg, values } | Check::AllBut { arg, values } => {
            let (on_match, otherwise) = match check {
                Check::OneOf { .. } => (refuse, ALLOW),
                _ => (ALLOW, refuse),
            };
            let mut block = vec![load(arg)];
            for (index, value) in values.iter().enumerate() {
                // Past the other comparisons and the fall-through return
                let to_match = offset(values.len() - index);
                block.push(jump(JUMP_IF_EQUAL, *value, to_match, 0));
            }
            block.push(statement(RETURN, otherwise));
            block.push(statement(RETURN, on_match));
            block
        }
    }
}

/// Instructions applying `rules` (the accumulator holds the system call number), then
/// allowing everything else; rules for calls `number` does not know are left out
fn rule_blocks(rules: &[Rule], number: impl Fn(&str) -> Option<u32>) -> Vec<SockFilter> {
    let mut blocks = Vec::new();
    for rule in rules {
        let Some(call) = number(rule.name) else {
            continue;
        };
        let refuse = RETURN_ERRNO | rule.errno as u32;
        let block = check_block(rule.check, refuse);
        blocks.push(jump(JUMP_IF_EQUAL, call, 0, offset(block.len())));
        blocks.extend(block);
    }
    blocks.push(statement(RETURN, ALLOW));
    blocks
}

/// A block for one architecture: if the architecture (in the accumulator) is `arch`, load
/// the call number and run `body`, otherwise skip to what follows
fn for_architecture(arch: u32, body: Vec<SockFilter>) -> Vec<SockFilter> {
    let mut block = Vec::with_capacity(body.len() + 3);
    // A conditional jump reaches 255 instructions ahead at most, an unconditional one
    // any distance: skip the body with the latter
    block.push(jump(JUMP_IF_EQUAL, arch, 1, 0));
    block.push(statement(JUMP, body.len() as u32 + 1));
    block.push(statement(LOAD_WORD, SYSCALL_NUMBER));
    block.extend(body);
    block
}

/// The filter for x86_64 (with i386): x32 calls and other architectures denied
#[cfg(any(target_arch = "x86_64", test))]
fn x86_64_program(native: impl Fn(&str) -> Option<u32>) -> SeccompProgram {
    let rules = rules();
    let mut instructions = vec![statement(LOAD_WORD, ARCHITECTURE)];
    let mut body = vec![
        // x32 calls: none are needed, and they would need their own numbers
        jump(JUMP_IF_AT_LEAST, X32_SYSCALL_BIT, 0, 1),
        statement(RETURN, DENY),
    ];
    body.extend(rule_blocks(&rules, native));
    instructions.extend(for_architecture(AUDIT_ARCH_X86_64, body));
    instructions.extend(for_architecture(
        AUDIT_ARCH_I386,
        rule_blocks(&rules, i386_number),
    ));
    instructions.push(statement(RETURN, DENY));
    SeccompProgram { instructions }
}

/// The filter applying [`DENIED_SYSCALLS`] and [`ARGUMENT_RULES`] on this architecture (and
/// on i386 on x86_64); calls from any other architecture are denied altogether. `None` on
/// architectures other than x86_64 and aarch64, where steps run without a filter
pub fn seccomp_program() -> Option<SeccompProgram> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(x86_64_program(native_number))
    }
    #[cfg(target_arch = "aarch64")]
    {
        let mut instructions = vec![statement(LOAD_WORD, ARCHITECTURE)];
        instructions.extend(for_architecture(
            AUDIT_ARCH_AARCH64,
            rule_blocks(&rules(), native_number),
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

    /// Runs a filter on one system call, as the kernel would (`struct seccomp_data` on a
    /// little-endian machine)
    fn evaluate(program: &SeccompProgram, arch: u32, number: u32, args: [u64; 6]) -> u32 {
        let mut accumulator = 0u32;
        let mut pc = 0usize;
        loop {
            let instruction = program.instructions[pc];
            let mut skip = 0u32;
            match instruction.code {
                LOAD_WORD => {
                    accumulator = match instruction.k {
                        SYSCALL_NUMBER => number,
                        ARCHITECTURE => arch,
                        offset if (ARGUMENTS..ARGUMENTS + 48).contains(&offset) => {
                            let index = ((offset - ARGUMENTS) / 8) as usize;
                            let value = args[index];
                            // The low word first, on a little-endian machine
                            if (offset - ARGUMENTS).is_multiple_of(8) {
                                value as u32
                            } else {
                                (value >> 32) as u32
                            }
                        }
                        other => panic!("load of offset {other}"),
                    }
                }
                AND => accumulator &= instruction.k,
                JUMP => skip = instruction.k,
                JUMP_IF_EQUAL | JUMP_IF_AT_LEAST | JUMP_IF_ANY_BIT => {
                    let taken = match instruction.code {
                        JUMP_IF_EQUAL => accumulator == instruction.k,
                        JUMP_IF_AT_LEAST => accumulator >= instruction.k,
                        _ => accumulator & instruction.k != 0,
                    };
                    skip = u32::from(if taken {
                        instruction.jt
                    } else {
                        instruction.jf
                    });
                }
                RETURN => return instruction.k,
                other => panic!("unknown instruction {other:#x}"),
            }
            pc += 1 + skip as usize;
            assert!(pc < program.instructions.len(), "jump past the end");
        }
    }

    const NO_ARGS: [u64; 6] = [0; 6];
    const ENOSYS: u32 = RETURN_ERRNO | libc::ENOSYS as u32;

    fn args0(value: u64) -> [u64; 6] {
        [value, 0, 0, 0, 0, 0]
    }

    fn arg_at(index: usize, value: u64) -> [u64; 6] {
        let mut args = NO_ARGS;
        args[index] = value;
        args
    }

    #[test]
    fn docker_default_capabilities_without_net_raw() {
        assert_eq!(default_capability_mask(), 0xa804_05fb);
        assert!(!DEFAULT_CAPABILITIES
            .iter()
            .any(|(name, _)| *name == "CAP_NET_RAW"));
    }

    /// The checks of [`ARGUMENT_RULES`], for one architecture's call numbers
    fn argument_checks(
        program: &SeccompProgram,
        arch: u32,
        number: &dyn Fn(&str) -> Option<u32>,
        has_mknod: bool,
    ) {
        let call = |name: &str| number(name).unwrap_or_else(|| panic!("no number for {name}"));
        let run = |name: &str, args: [u64; 6]| evaluate(program, arch, call(name), args);
        // New namespaces, whatever else the flags say; plain threads and forks go on
        for flags in [
            0x1000_0000u64,                 // CLONE_NEWUSER
            0x0002_0000,                    // CLONE_NEWNS
            0x4000_0000 | 0x0001_1200 | 17, // CLONE_NEWNET with thread flags and SIGCHLD
            0x0200_0000,                    // CLONE_NEWCGROUP
        ] {
            assert_eq!(run("clone", args0(flags)), DENY, "clone {flags:#x}");
            assert_eq!(run("unshare", args0(flags)), DENY, "unshare {flags:#x}");
        }
        // CLONE_NEWTIME is unshare's; in clone its bit is part of the exit signal
        assert_eq!(run("unshare", args0(0x80)), DENY);
        for flags in [17u64, 0x003d_0f00, 0x0120_0011] {
            assert_eq!(run("clone", args0(flags)), ALLOW, "clone {flags:#x}");
        }
        // CLONE_FILES, CLONE_FS: no namespace
        assert_eq!(run("unshare", args0(0x400 | 0x200)), ALLOW);
        // The high word is not looked at; the kernel ignores it for these flags
        assert_eq!(run("unshare", args0(0x1_0000_0000)), ALLOW);
        assert_eq!(run("clone3", NO_ARGS), ENOSYS);

        assert_eq!(run("ioctl", arg_at(1, 0x5412)), DENY);
        assert_eq!(run("ioctl", arg_at(1, 0x541c)), DENY);
        // `cmd` is an unsigned int: high bits do not make another request
        assert_eq!(run("ioctl", arg_at(1, 0xffff_ffff_0000_5412)), DENY);
        for request in [0x5401u64, 0x5413, 0x541b, 0x8912] {
            assert_eq!(run("ioctl", arg_at(1, request)), ALLOW, "{request:#x}");
        }
        assert_eq!(run("ioctl", arg_at(0, 0x5412)), ALLOW);

        assert_eq!(run("socket", args0(17)), DENY);
        for family in [1u64, 2, 10, 16] {
            assert_eq!(run("socket", args0(family)), ALLOW, "family {family}");
        }

        let block = u64::from(BLOCK_DEVICE | 0o600);
        let character: u64 = 0o020_000 | 0o600;
        assert_eq!(run("mknodat", arg_at(2, block)), DENY);
        assert_eq!(run("mknodat", arg_at(2, character)), ALLOW);
        assert_eq!(run("mknodat", arg_at(2, 0o010_644)), ALLOW); // a FIFO
        assert_eq!(run("mknodat", arg_at(1, block)), ALLOW);
        if has_mknod {
            assert_eq!(run("mknod", arg_at(1, block)), DENY);
            assert_eq!(run("mknod", arg_at(1, character)), ALLOW);
        }

        for allowed in ALLOWED_PERSONALITIES {
            assert_eq!(run("personality", args0(u64::from(*allowed))), ALLOW);
        }
        // ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC
        assert_eq!(run("personality", args0(0x0004_0000)), DENY);
        assert_eq!(run("personality", args0(0x0040_0000)), DENY);

        for name in DENIED_SYSCALLS {
            if let Some(number) = number(name) {
                assert_eq!(evaluate(program, arch, number, NO_ARGS), DENY, "{name}");
            }
        }
    }

    #[test]
    fn denies_the_listed_calls_on_x86_64_and_i386_only() {
        // The x86_64 numbers, so that the test runs on any machine
        let x86_64 = |name: &str| -> Option<u32> {
            Some(match name {
                "kexec_load" => 246,
                "kexec_file_load" => 320,
                "init_module" => 175,
                "finit_module" => 313,
                "delete_module" => 176,
                "bpf" => 321,
                "perf_event_open" => 298,
                "keyctl" => 250,
                "add_key" => 248,
                "request_key" => 249,
                "ptrace" => 101,
                "reboot" => 169,
                "swapon" => 167,
                "swapoff" => 168,
                "open_by_handle_at" => 304,
                "syslog" => 103,
                "setns" => 308,
                "userfaultfd" => 323,
                "mount" => 165,
                "umount2" => 166,
                "pivot_root" => 155,
                "move_mount" => 429,
                "open_tree" => 428,
                "fsopen" => 430,
                "fsconfig" => 431,
                "fsmount" => 432,
                "fspick" => 433,
                "mount_setattr" => 442,
                "clone" => 56,
                "unshare" => 272,
                "clone3" => 435,
                "ioctl" => 16,
                "socket" => 41,
                "mknod" => 133,
                "mknodat" => 259,
                "personality" => 135,
                _ => return None,
            })
        };
        #[cfg(target_arch = "x86_64")]
        for rule in rules() {
            assert_eq!(native_number(rule.name), x86_64(rule.name), "{}", rule.name);
        }
        let program = x86_64_program(x86_64);
        // About a hundred instructions per architecture; a call walks through at most that
        assert!(
            program.instructions.len() < 300,
            "{}",
            program.instructions.len()
        );
        argument_checks(&program, AUDIT_ARCH_X86_64, &x86_64, true);
        argument_checks(&program, AUDIT_ARCH_I386, &i386_number, true);
        for name in DENIED_SYSCALLS {
            assert!(
                x86_64(name).is_some() || *name == "umount",
                "no x86_64 number for {name}"
            );
            assert!(
                i386_number(name).is_some() || *name == "kexec_file_load",
                "no i386 number for {name}"
            );
        }
        // What builds need goes through
        for (name, number) in [
            ("read", 0u32),
            ("openat", 257),
            ("chown", 92),
            ("setresuid", 117),
            ("chroot", 161),
            ("socketpair", 53),
        ] {
            assert_eq!(
                evaluate(&program, AUDIT_ARCH_X86_64, number, NO_ARGS),
                ALLOW,
                "{name}"
            );
        }
        // i386's read, open, chown32, socketcall
        for allowed in [3, 5, 212, 102] {
            assert_eq!(evaluate(&program, AUDIT_ARCH_I386, allowed, NO_ARGS), ALLOW);
        }
        assert_eq!(
            evaluate(&program, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1, NO_ARGS),
            DENY
        );
        assert_eq!(evaluate(&program, AUDIT_ARCH_AARCH64, 0, NO_ARGS), DENY);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_installed_program_is_the_x86_64_one() {
        assert_eq!(seccomp_program(), Some(x86_64_program(native_number)));
    }
}
