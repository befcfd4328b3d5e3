//! The forecast store feeds the distribution core.
use crate::distribution::Distributor;
use gridshift_carbon::ForecastSink;
use gridshift_core::{Forecasts, Zone};

impl ForecastSink for Distributor {
    fn update(&self, forecasts: &Forecasts, _published: &[Zone], _withdrawn: &[Zone]) {
        self.sync(forecasts);
    }
}
