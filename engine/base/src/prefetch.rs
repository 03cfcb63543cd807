//! A software prefetch: lets a lookup start the cache misses it will wait for before the work
//! that precedes them, so independent misses overlap. The one place the engine crates issue one.

/// Asks the CPU to start loading the cache line holding `p`. Never faults and reads nothing
/// into the program, whatever the address; a no-op off x86-64.
#[inline(always)]
pub fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and reads nothing into the program,
    // whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
