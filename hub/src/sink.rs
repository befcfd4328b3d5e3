//! The forecast store publishes into the distribution core.
use crate::distribution::Distributor;
use gridshift_carbon::ForecastSink;
use gridshift_proto::Series;

impl ForecastSink for Distributor {
    fn publish(&self, series: &[Series]) {
        self.publish_all(series);
    }

    fn withdraw(&self, zones: &[String]) {
        for zone in zones {
            self.remove_zone(zone);
        }
    }
}
