//! Carbon-intensity providers behind one trait. Each returns a normalised
//! [`Series`] (gCO2eq/kWh, start + duration, provider name, estimated flag,
//! average or marginal signal) or a classified [`ProviderError`].
use crate::error::ProviderError;
use futures::future::BoxFuture;
use gridshift_core::{Series, Signal, Zone};
use jiff::SignedDuration;

pub mod electricity_maps;
pub mod http;
pub mod replay;
pub mod uk;
pub mod watttime;

pub use electricity_maps::{ElectricityMaps, ElectricityMapsConfig};
pub use gridshift_core::trace::{Trace, floor_to};
pub use replay::ReplayProvider;
pub use uk::{UkCarbonIntensity, UkConfig};
pub use watttime::{WattTime, WattTimeConfig};

/// One upstream source of intensity data.
pub trait Provider: Send + Sync + 'static {
    /// Stable name used in metrics labels, logs and each point's `provider`.
    fn name(&self) -> &str;

    fn signal(&self) -> Signal;

    /// How often the upstream publishes new values; the store aligns its
    /// refreshes to this so it asks once per new datum, not more.
    fn resolution(&self) -> SignedDuration;

    /// Whether this provider can serve `zone` at all (no I/O). The chain skips
    /// providers that cannot, instead of spending a call to learn it.
    fn supports(&self, _zone: &str) -> bool {
        true
    }

    /// Fetches current and (where the provider has it) forecast data for
    /// `zone`. Exactly one logical fetch; the store guarantees it is called at
    /// most once per zone per refresh.
    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>>;
}
