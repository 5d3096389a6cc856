//! Which CPU path the compact products take: chosen once at run time from
//! what the CPU has, or forced with `KHULASA_KERNELS` (`auto`, `amx`,
//! `avx512`, `avx2`, `portable`) or [`force`].

use std::sync::atomic::{AtomicU8, Ordering};

/// A CPU path of the compact products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelPath {
    /// Portable loops, vectorized by the compiler for the build target.
    Portable,
    /// AVX2 with FMA and F16C kernels for one token and for prompts.
    Avx2,
    /// AVX-512 VNNI kernels for one token and for prompts.
    Avx512,
    /// AMX tiles for prompts, AVX-512 VNNI for one token.
    Amx,
}

impl KernelPath {
    /// The name `KHULASA_KERNELS` takes.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Portable => "portable",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
            KernelPath::Amx => "amx",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512, Self::Amx]
            .into_iter()
            .find(|p| p.name() == s)
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<Self> {
        [Self::Portable, Self::Avx2, Self::Avx512, Self::Amx]
            .get(usize::from(c).checked_sub(1)?)
            .copied()
    }
}

/// 0 until chosen, else [`KernelPath::code`].
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// Every path this CPU can take, slowest first.
pub fn available_paths() -> Vec<KernelPath> {
    let mut v = vec![KernelPath::Portable];
    if cpu_has_avx2() {
        v.push(KernelPath::Avx2);
    }
    if cpu_has_vnni() {
        v.push(KernelPath::Avx512);
    }
    if cpu_has_amx() {
        v.push(KernelPath::Amx);
    }
    v
}

/// The path in use: the one forced, else `KHULASA_KERNELS`, else the fastest
/// this CPU can take. A path the CPU cannot take is an error naming the
/// ones it can.
pub fn current() -> crate::error::Result<KernelPath> {
    if let Some(p) = KernelPath::from_code(CHOSEN.load(Ordering::Relaxed)) {
        return Ok(p);
    }
    let best = *available_paths().last().unwrap_or(&KernelPath::Portable);
    let chosen = match std::env::var("KHULASA_KERNELS") {
        Ok(v) if !v.is_empty() && v != "auto" => {
            let Some(p) = KernelPath::from_name(&v) else {
                return Err(crate::error::Error::bad_input(
                    "KHULASA_KERNELS",
                    format!("unknown kernel path {v:?}; use auto, amx, avx512, avx2 or portable"),
                ));
            };
            check(p)?;
            p
        }
        _ => best,
    };
    CHOSEN.store(chosen.code(), Ordering::Relaxed);
    Ok(chosen)
}

fn check(p: KernelPath) -> crate::error::Result<()> {
    let have = available_paths();
    if have.contains(&p) {
        return Ok(());
    }
    let names: Vec<&str> = have.iter().map(|p| p.name()).collect();
    Err(crate::error::Error::bad_input(
        "KHULASA_KERNELS",
        format!(
            "this CPU cannot take the {} path; it can take {}",
            p.name(),
            names.join(", ")
        ),
    ))
}

/// Forces `p` for the rest of the process (tests run each path in turn).
pub fn force(p: KernelPath) -> crate::error::Result<()> {
    check(p)?;
    CHOSEN.store(p.code(), Ordering::Relaxed);
    Ok(())
}

/// The path in use, or the portable one when `KHULASA_KERNELS` is invalid
/// (the error is reported when the model loads).
pub(super) fn in_use() -> KernelPath {
    current().unwrap_or(KernelPath::Portable)
}

/// Whether the AVX2 kernels are in use: the CPU has them and the kernel
/// path is `avx2` (the paths above it take their own kernels first).
pub(super) fn has_avx2() -> bool {
    in_use() >= KernelPath::Avx2 && cpu_has_avx2()
}

/// Whether this CPU runs the AVX2 kernels.
pub(super) fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::avx2::cpu_has_avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 VNNI kernels are in use: the CPU has them and the
/// kernel path (see [`super::path`]) is `avx512` or `amx`.
pub(super) fn has_vnni() -> bool {
    in_use() >= KernelPath::Avx512 && cpu_has_vnni()
}

/// Whether this CPU runs the AVX-512 VNNI kernels (with AVX-512 BW and VL,
/// and the AVX2 kernels' features for the rows they unpack, which every
/// AVX-512 CPU has).
pub(super) fn cpu_has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            cpu_has_avx2()
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vnni")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AMX tiles are in use: the CPU and kernel run them and the kernel
/// path is `amx`.
pub(super) fn has_amx() -> bool {
    in_use() == KernelPath::Amx && cpu_has_amx()
}

/// Whether this CPU and kernel run AMX int8 tiles (and AVX-512 for the rest).
#[allow(unsafe_code)]
pub(super) fn cpu_has_amx() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            if !cpu_has_vnni() {
                return false;
            }
            // CPUID leaf 7: EDX bit 24 is AMX-TILE, bit 25 AMX-INT8.
            let info = std::arch::x86_64::__cpuid_count(7, 0);
            if info.edx & (1 << 24) == 0 || info.edx & (1 << 25) == 0 {
                return false;
            }
            const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
            const XFEATURE_XTILEDATA: libc::c_long = 18;
            // SAFETY: a plain system call with integer arguments; it only
            // grants this process the AMX register state, or fails.
            let granted = unsafe {
                libc::syscall(
                    libc::SYS_arch_prctl,
                    ARCH_REQ_XCOMP_PERM,
                    XFEATURE_XTILEDATA,
                )
            };
            granted == 0
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            false
        }
    })
}
