//! Gridshift's domain and every decision it makes, as pure functions over plain data.
//!
//! Nothing here talks to Kubernetes, gRPC or HTTP (a test in the README's test command
//! checks the dependency tree): the hub's and the agent's controllers, the what-if
//! simulator and the benchmarks all call these same functions.
//!
//! | module | what |
//! |---|---|
//! | [`series`] | one zone's intensity over time ([`Series`]) |
//! | [`forecasts`] | every zone's latest series under one staleness bound ([`Forecasts`]): what "usable" means |
//! | [`zone`], [`zone_map`] | validated grid zone names ([`Zone`]); cloud regions → zones |
//! | [`clock`] | "now" as an input ([`Clock`]): real, scaled or manual |
//! | [`backoff`] | the one retry schedule |
//! | [`trace`] | recorded hourly traces (CSV) |
//! | [`placement`] | ranking clusters, switching with make-before-break, locating clusters' zones |
//! | [`caps`] | KEDA replica caps by intensity bucket and eco-mode rules |
//! | [`scheduling`] | filters, scores, deferral planning: one pod's scheduling decision |
//! | `testing` | fixtures for tests and benchmarks (feature `test-util`) |
#![forbid(unsafe_code)]

pub mod backoff;
pub mod caps;
pub mod clock;
pub mod forecasts;
pub mod placement;
pub mod scheduling;
pub mod series;
pub mod splitmix;
pub mod trace;
pub mod zone;
pub mod zone_map;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use clock::{Clock, ManualClock, ScaledClock, SharedClock, SystemClock};
pub use forecasts::{DEFAULT_STALENESS_BOUND, Forecasts, MAX_CLOCK_SKEW, Reading, ZoneData};
pub use series::{ForecastPoint, Series, Signal};
pub use zone::{InvalidZone, Zone};
