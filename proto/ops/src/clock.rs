//! Choosing the process clock from flags: real time, or simulated time starting
//! at a given instant and running faster (for demos and replays).
use gridshift_core::{ScaledClock, SharedClock, SystemClock};
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct ClockArgs {
    /// Start simulated time at this instant (RFC 3339), e.g. to replay a trace.
    /// Without it the process uses the real clock.
    #[arg(long, env = "GRIDSHIFT_CLOCK_START")]
    pub clock_start: Option<jiff::Timestamp>,
    /// How many times faster than real time simulated time runs.
    #[arg(long, env = "GRIDSHIFT_CLOCK_SPEED", default_value_t = 1.0, requires = "clock_start")]
    pub clock_speed: f64,
    /// The wall-clock instant (RFC 3339) at which simulated time equals
    /// --clock-start (default: when the process starts). Give several processes
    /// the same start, speed and anchor and they share one timeline.
    #[arg(long, env = "GRIDSHIFT_CLOCK_ANCHOR", requires = "clock_start")]
    pub clock_anchor: Option<jiff::Timestamp>,
}

impl ClockArgs {
    pub fn clock(&self) -> anyhow::Result<SharedClock> {
        match self.clock_start {
            None => Ok(Arc::new(SystemClock)),
            Some(start) => {
                if !(self.clock_speed.is_finite() && self.clock_speed > 0.0) {
                    anyhow::bail!("--clock-speed must be a positive number, got {}", self.clock_speed);
                }
                tracing::warn!(%start, speed = self.clock_speed, "using a simulated clock");
                Ok(Arc::new(match self.clock_anchor {
                    Some(anchor) => ScaledClock::anchored(start, self.clock_speed, anchor),
                    None => ScaledClock::new(start, self.clock_speed),
                }))
            }
        }
    }
}
