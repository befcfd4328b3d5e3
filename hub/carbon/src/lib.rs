//! Carbon-intensity data for the hub: providers, the forecast store, the zone map.
#![forbid(unsafe_code)]
