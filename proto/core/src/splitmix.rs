//! splitmix64: a tiny, deterministic random-number generator, stable forever, so the
//! mock forecast, the what-if simulator's forecast error and every seeded test or
//! benchmark reproduce the same numbers whatever version of a random crate is current.

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The generator's state; `SplitMix::new(seed).next_u64()` is the mix of `seed`.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    #[inline]
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    #[inline]
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// Uniform in `[0, n)` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A uniformly chosen element of a non-empty slice.
    #[inline]
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// One splitmix64 step from `x`: a well-mixed hash of a number (the same value as
/// `SplitMix::new(x).next_u64()`).
#[inline]
pub fn mix(x: u64) -> u64 {
    SplitMix::new(x).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_sequence() {
        // The reference values of splitmix64 seeded with 0 (Vigna's splitmix64.c).
        let mut r = SplitMix::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
        let u = SplitMix::new(1).unit();
        assert!(u > 0.0 && u < 1.0);
    }
}
