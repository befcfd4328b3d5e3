//! The forecast store: fetches every wanted zone once per refresh through the
//! provider chain, keeps the last good series (with its age) until the
//! staleness bound, backs off failing providers and persists its state.
//!
//! The store's [`Forecasts`] are the hub's one source of truth for the latest
//! forecasts: readers watch them ([`ForecastStore::watch`]), and the one
//! [`ForecastSink`] (the hub's distribution core) hears of every change in order.
//!
//! Guarantees (DESIGN §3 invariant 5):
//! - one upstream fetch per zone per refresh, however many clusters and
//!   policies want the zone (wanted zones are a set, refreshes are serialised,
//!   and a zone is only fetched when it is due);
//! - refreshes align to the data's resolution, with jitter;
//! - failures back off exponentially with jitter, honour `Retry-After`, pause
//!   a rate-limited provider for every zone, and are never remembered beyond
//!   their backoff;
//! - a failed refresh keeps the last good data until it is older than the
//!   staleness bound; then the zone is withdrawn ("no data", fail open).
use crate::backoff::{BackoffPolicy, retry_at};
use crate::chain::{ProviderChain, earliest_retry, plan_attempts};
use crate::error::ProviderError;
use crate::metrics::{IntensityLabels, Metrics};
use futures::StreamExt;
use gridshift_core::{DEFAULT_STALENESS_BOUND, Forecasts, Series, SharedClock, Zone};
use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

pub mod persist;
pub mod schedule;

pub use persist::{FileBackend, PersistBackend, PersistError, PersistedState};
pub use schedule::{RefreshTiming, next_refresh};

/// Hears of every change to the store's forecasts, synchronously and in order (the
/// hub wires this to its distribution core).
pub trait ForecastSink: Send + Sync + 'static {
    /// `forecasts` is the store's new state: the `published` zones have new series
    /// (the latest series of a zone wins) and the `withdrawn` zones have no usable
    /// data any more (their last good series aged past the staleness bound:
    /// consumers fail open).
    fn update(&self, forecasts: &Forecasts, published: &[Zone], withdrawn: &[Zone]);
}

/// The zones to fetch, asked before every refresh (the hub learns them from
/// agents and policies, e.g. `move || distributor.wanted_zones()`).
pub type WantedZones = Arc<dyn Fn() -> BTreeSet<Zone> + Send + Sync>;

/// A source of jitter in `[0, 1)`; injectable so tests can pin schedules.
pub type JitterSource = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub timing: RefreshTiming,
    pub backoff: BackoffPolicy,
    /// Last good data older than this is dropped: "no data".
    pub staleness_bound: SignedDuration,
    /// At most this many zones are fetched at once.
    pub max_concurrency: usize,
    /// How often `run` re-reads the wanted zones when nothing else wakes it.
    pub poll_interval: SignedDuration,
    /// Zones always fetched, wanted or not (e.g. from `--carbon-zones`).
    pub static_zones: BTreeSet<Zone>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            timing: RefreshTiming::default(),
            backoff: BackoffPolicy::default(),
            staleness_bound: DEFAULT_STALENESS_BOUND,
            max_concurrency: 4,
            poll_interval: SignedDuration::from_secs(15),
            static_zones: BTreeSet::new(),
        }
    }
}

/// Optional parts of a store.
#[derive(Clone, Default)]
pub struct StoreOptions {
    pub wanted: Option<WantedZones>,
    pub persist: Option<Arc<dyn PersistBackend>>,
    pub metrics: Metrics,
    pub jitter: Option<JitterSource>,
    /// When set, the store fetches (and persists) only while this says `true`: hub
    /// replicas that do not lead follow the leader's persisted state instead
    /// ([`ForecastStore::adopt`]), so provider calls do not grow with replicas.
    pub fetching: Option<tokio::sync::watch::Receiver<bool>>,
}

impl StoreOptions {
    pub fn wanted_zones(mut self, f: impl Fn() -> BTreeSet<Zone> + Send + Sync + 'static) -> Self {
        self.wanted = Some(Arc::new(f));
        self
    }

    pub fn persist(mut self, backend: Arc<dyn PersistBackend>) -> Self {
        self.persist = Some(backend);
        self
    }

    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn jitter(mut self, f: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.jitter = Some(Arc::new(f));
        self
    }

    pub fn fetching(mut self, fetching: tokio::sync::watch::Receiver<bool>) -> Self {
        self.fetching = Some(fetching);
        self
    }
}

/// What the store knows about one zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneStatus {
    pub zone: Zone,
    /// The last good series, while younger than the staleness bound.
    pub last_good: Option<Series>,
    pub age: Option<SignedDuration>,
    /// Why the last refresh failed (cleared by a success).
    pub last_error: Option<ProviderError>,
    pub consecutive_failures: u32,
    pub next_refresh: Timestamp,
}

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefreshReport {
    /// (zone, provider that served it).
    pub fetched: Vec<(Zone, String)>,
    /// Zones where every provider tried failed, with the last error.
    pub failed: Vec<(Zone, ProviderError)>,
    /// Due zones whose every provider was backing off.
    pub backing_off: Vec<Zone>,
    /// Zones whose last good data aged out.
    pub withdrawn: Vec<Zone>,
}

/// How the store is getting on with one zone (its data is in the published forecasts).
#[derive(Debug)]
struct ZoneState {
    next_due: Timestamp,
    last_error: Option<ProviderError>,
    failures: u32,
    /// The labels of the intensity gauge currently exported.
    shown: Option<IntensityLabels>,
}

impl ZoneState {
    fn new(now: Timestamp) -> Self {
        Self { next_due: now, last_error: None, failures: 0, shown: None }
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    failures: u32,
    until: Timestamp,
}

#[derive(Debug, Default)]
struct State {
    zones: BTreeMap<Zone, ZoneState>,
    /// (provider index, zone) -> backoff.
    backoff: HashMap<(usize, Zone), Backoff>,
    /// Provider index -> account-wide rate limit.
    rate_limited_until: HashMap<usize, Timestamp>,
}

impl State {
    fn blocked_until(&self, provider: usize, zone: &Zone) -> Option<Timestamp> {
        let b = self.backoff.get(&(provider, zone.clone())).map(|b| b.until);
        let r = self.rate_limited_until.get(&provider).copied();
        b.max(r)
    }
}

struct Inner {
    cfg: StoreConfig,
    chain: ProviderChain,
    clock: SharedClock,
    sink: Arc<dyn ForecastSink>,
    opts: StoreOptions,
    state: Mutex<State>,
    /// The last good series of every zone, while younger than the staleness bound.
    latest: tokio::sync::watch::Sender<Forecasts>,
    /// Serialises refreshes: two concurrent callers never fetch a zone twice.
    refresh_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    /// True once [`ForecastStore::run`] has restored its state and finished one refresh.
    warm: tokio::sync::watch::Sender<bool>,
}

/// Cheap to clone; clones share one store.
#[derive(Clone)]
pub struct ForecastStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ForecastStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForecastStore")
            .field("chain", &self.inner.chain)
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

enum Outcome {
    Fetched(usize, Series),
    Failed(ProviderError),
    BackingOff,
}

impl ForecastStore {
    pub fn new(
        config: StoreConfig,
        chain: ProviderChain,
        clock: SharedClock,
        sink: Arc<dyn ForecastSink>,
    ) -> Self {
        Self::with_options(config, chain, clock, sink, StoreOptions::default())
    }

    pub fn with_options(
        config: StoreConfig,
        chain: ProviderChain,
        clock: SharedClock,
        sink: Arc<dyn ForecastSink>,
        opts: StoreOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                latest: tokio::sync::watch::Sender::new(Forecasts::new(config.staleness_bound)),
                cfg: config,
                chain,
                clock,
                sink,
                opts,
                state: Mutex::new(State::default()),
                refresh_lock: tokio::sync::Mutex::new(()),
                wake: Notify::new(),
                warm: tokio::sync::watch::Sender::new(false),
            }),
        }
    }

    fn jitter(&self) -> f64 {
        match &self.inner.opts.jitter {
            Some(f) => f().clamp(0.0, 1.0),
            None => rand::random::<f64>(),
        }
    }

    /// The configured static zones plus whatever the wanted-zones callback says.
    pub fn wanted_zones(&self) -> BTreeSet<Zone> {
        let mut zones = self.inner.cfg.static_zones.clone();
        if let Some(f) = &self.inner.opts.wanted {
            zones.extend(f());
        }
        zones
    }

    /// Becomes true once [`ForecastStore::run`] has restored the persisted state and
    /// tried every wanted zone once: what the hub's readiness waits for, so agents
    /// that connect to a new replica get its data rather than an empty snapshot.
    pub fn warmed_up(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.warm.subscribe()
    }

    /// Asks a running [`ForecastStore::run`] to re-read the wanted zones now
    /// (e.g. when an agent reports a new zone).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Whether this store fetches now (always, unless it follows a leader's state).
    pub fn is_fetching(&self) -> bool {
        self.inner.opts.fetching.as_ref().is_none_or(|f| *f.borrow())
    }

    /// Whether `zone` has been tried since start (fetched, failed, backing off) or
    /// restored or adopted: what the placement controller waits for before it evaluates
    /// a policy of the zone.
    pub fn attempted(&self, zone: &str) -> bool {
        self.inner.state.lock().zones.contains_key(zone)
    }

    /// Marks the store warm without a refresh of its own: a follower that has read the
    /// leader's state once.
    pub fn mark_warm(&self) {
        self.inner.warm.send_replace(true);
    }

    /// The last good series of every zone younger than the staleness bound.
    pub fn forecasts(&self) -> Forecasts {
        self.inner.latest.borrow().clone()
    }

    /// The forecasts as they change: what readers (the placement controller) wait on.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<Forecasts> {
        self.inner.latest.subscribe()
    }

    /// The last good series of `zone`, if it has one younger than the bound.
    pub fn series(&self, zone: &str) -> Option<Series> {
        self.inner.latest.borrow().get(zone).cloned()
    }

    pub fn status(&self, zone: &str) -> Option<ZoneStatus> {
        let now = self.inner.clock.now();
        let latest = self.forecasts();
        let state = self.inner.state.lock();
        state.zones.get_key_value(zone).map(|(zone, z)| status_of(zone, z, &latest, now))
    }

    pub fn statuses(&self) -> Vec<ZoneStatus> {
        let now = self.inner.clock.now();
        let latest = self.forecasts();
        let state = self.inner.state.lock();
        state.zones.iter().map(|(zone, z)| status_of(zone, z, &latest, now)).collect()
    }

    /// Applies a change to the forecasts and tells the sink, under the forecasts' lock
    /// so the sink hears changes in the order they were made.
    fn change(&self, published: Vec<Series>, withdrawn: &[Zone]) {
        let zones: Vec<Zone> = published.iter().map(|s| s.zone.clone()).collect();
        self.inner.latest.send_modify(|latest| {
            latest.extend(published);
            for z in withdrawn {
                latest.remove(z);
            }
            self.inner.sink.update(latest, &zones, withdrawn);
        });
    }

    /// Fetches every wanted zone that is due, publishes what arrived, withdraws
    /// what aged out, updates metrics and persists. Safe to call concurrently.
    pub async fn refresh_once(&self) -> RefreshReport {
        let _serial = self.inner.refresh_lock.lock().await;
        let now = self.inner.clock.now();
        let wanted = self.wanted_zones();
        let due: Vec<Zone> = {
            let state = self.inner.state.lock();
            wanted.into_iter().filter(|z| state.zones.get(z).is_none_or(|s| now >= s.next_due)).collect()
        };

        let concurrency = self.inner.cfg.max_concurrency.max(1);
        let outcomes: Vec<(Zone, Outcome)> = futures::stream::iter(due)
            .map(|zone| async move {
                let outcome = self.refresh_zone(&zone).await;
                (zone, outcome)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;

        let mut report = RefreshReport::default();
        let mut publish = Vec::new();
        {
            let now = self.inner.clock.now();
            let mut state = self.inner.state.lock();
            for (zone, outcome) in outcomes {
                let order = self.inner.chain.order_for(&zone);
                let retry = earliest_retry(&order, |i| state.blocked_until(i, &zone));
                let z = state.zones.entry(zone.clone()).or_insert_with(|| ZoneState::new(now));
                match outcome {
                    Outcome::Fetched(idx, series) => {
                        let provider = self.inner.chain.provider(idx);
                        z.next_due =
                            next_refresh(now, provider.resolution(), &self.inner.cfg.timing, self.jitter());
                        z.last_error = None;
                        z.failures = 0;
                        report.fetched.push((zone, provider.name().to_string()));
                        publish.push(series);
                    }
                    Outcome::Failed(err) => {
                        z.failures = z.failures.saturating_add(1);
                        z.next_due = retry.unwrap_or(now + self.inner.cfg.backoff.base);
                        z.last_error = Some(err.clone());
                        report.failed.push((zone, err));
                    }
                    Outcome::BackingOff => {
                        z.next_due = retry.unwrap_or(now + self.inner.cfg.backoff.base);
                        report.backing_off.push(zone);
                    }
                }
            }
        }
        if !publish.is_empty() {
            self.change(publish, &[]);
        }
        report.withdrawn = self.expire_stale();
        self.update_metrics();
        if !report.fetched.is_empty() || !report.failed.is_empty() || !report.withdrawn.is_empty() {
            self.save().await;
        }
        report
    }

    /// One zone through the chain: each available provider at most once, in
    /// order, until one succeeds.
    async fn refresh_zone(&self, zone: &Zone) -> Outcome {
        let order = self.inner.chain.order_for(zone);
        if order.is_empty() {
            return Outcome::Failed(ProviderError::UnsupportedZone {
                provider: self.inner.chain.names().join("+"),
                zone: zone.to_string(),
            });
        }
        let attempts = {
            let state = self.inner.state.lock();
            plan_attempts(&order, |i| state.blocked_until(i, zone), self.inner.clock.now())
        };
        if attempts.is_empty() {
            return Outcome::BackingOff;
        }
        let mut last_err = None;
        for idx in attempts {
            // Another zone may have hit this provider's rate limit meanwhile.
            if self.inner.state.lock().blocked_until(idx, zone).is_some_and(|u| self.inner.clock.now() < u) {
                continue;
            }
            let provider = self.inner.chain.provider(idx);
            let result = provider.fetch(zone).await.and_then(|s| {
                if s.points.is_empty() {
                    Err(ProviderError::invalid(provider.name(), format!("no usable points for {zone}")))
                } else {
                    Ok(s)
                }
            });
            match result {
                Ok(series) => {
                    self.inner.state.lock().backoff.remove(&(idx, zone.clone()));
                    tracing::debug!(
                        %zone,
                        provider = provider.name(),
                        points = series.points.len(),
                        "fetched"
                    );
                    return Outcome::Fetched(idx, series);
                }
                Err(err) => {
                    self.record_failure(idx, zone, &err);
                    last_err = Some(err);
                }
            }
        }
        match last_err {
            Some(e) => Outcome::Failed(e),
            None => Outcome::BackingOff,
        }
    }

    fn record_failure(&self, idx: usize, zone: &Zone, err: &ProviderError) {
        let provider = self.inner.chain.provider(idx).name();
        self.inner.opts.metrics.observe_error(provider, err.kind().as_str());
        let now = self.inner.clock.now();
        let jitter = self.jitter();
        let mut state = self.inner.state.lock();
        let key = (idx, zone.clone());
        let failures = state.backoff.get(&key).map_or(0, |b| b.failures).saturating_add(1);
        let until = retry_at(now, &self.inner.cfg.backoff, failures, err.kind(), err.retry_after(), jitter);
        state.backoff.insert(key, Backoff { failures, until });
        if err.is_rate_limit() {
            let r = state.rate_limited_until.entry(idx).or_insert(until);
            *r = (*r).max(until);
        }
        drop(state);
        tracing::warn!(%zone, provider, error = %err, retry_at = %until, "carbon-intensity fetch failed");
    }

    /// Drops last good data older than the staleness bound and tells the sink.
    fn expire_stale(&self) -> Vec<Zone> {
        let now = self.inner.clock.now();
        let bound = self.inner.cfg.staleness_bound;
        let withdrawn: Vec<Zone> =
            self.forecasts().iter().filter(|(_, s)| s.age(now) > bound).map(|(z, _)| z.clone()).collect();
        if !withdrawn.is_empty() {
            tracing::warn!(zones = ?withdrawn, "carbon-intensity data older than the staleness bound: no data");
            self.change(Vec::new(), &withdrawn);
        }
        withdrawn
    }

    /// Refreshes the intensity and data-age gauges for the current time.
    pub fn update_metrics(&self) {
        let now = self.inner.clock.now();
        let metrics = &self.inner.opts.metrics;
        let latest = self.forecasts();
        let mut state = self.inner.state.lock();
        for (zone, z) in state.zones.iter_mut() {
            let last_good = latest.get(zone);
            // The value consumers act on: carried forward past its point like everywhere.
            let current = latest.reading(zone, now).map(|r| {
                let labels = IntensityLabels {
                    zone: zone.to_string(),
                    provider: r.point.provider.to_string(),
                    estimated: r.point.is_estimated.to_string(),
                    carried_forward: r.carried_forward.to_string(),
                };
                (labels, r.value())
            });
            metrics.set_intensity(current.as_ref().map(|(l, v)| (l, *v)), z.shown.as_ref());
            z.shown = current.map(|(l, _)| l);
            metrics.set_age(zone, last_good.map(|s| s.age(now).as_secs_f64()));
        }
    }

    fn snapshot_state(&self) -> PersistedState {
        let latest = self.forecasts();
        let state = self.inner.state.lock();
        PersistedState {
            version: persist::FORMAT_VERSION,
            saved_at: self.inner.clock.now(),
            zones: latest.iter().map(|(_, s)| s.into()).collect(),
            rate_limited_until: state
                .rate_limited_until
                .iter()
                .map(|(i, t)| (self.inner.chain.provider(*i).name().to_string(), *t))
                .collect(),
        }
    }

    async fn save(&self) {
        let Some(backend) = &self.inner.opts.persist else { return };
        let snapshot = self.snapshot_state();
        if let Err(e) = backend.save(&snapshot).await {
            tracing::warn!(error = %e, "cannot persist the carbon-intensity store");
        }
    }

    /// Loads persisted state ([`ForecastStore::adopt`]). Returns how many zones
    /// were restored.
    pub async fn restore(&self) -> usize {
        let Some(backend) = &self.inner.opts.persist else { return 0 };
        match backend.load().await {
            Ok(Some(s)) => self.adopt(&s),
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring persisted carbon-intensity state");
                0
            }
        }
    }

    /// Takes in state persisted by this store before a restart, or by the leading
    /// replica: each series newer than the one held (and within the staleness bound) is
    /// published, and its zone's next refresh is scheduled from when it was fetched, so
    /// a restart or a failover does not fetch it again early; remembered rate limits are
    /// honoured. Returns how many zones changed.
    pub fn adopt(&self, loaded: &PersistedState) -> usize {
        let now = self.inner.clock.now();
        let latest = self.forecasts();
        let mut adopted = Vec::new();
        {
            let mut state = self.inner.state.lock();
            for p in &loaded.zones {
                let Some(series) = p.to_series() else { continue };
                let newer =
                    latest.get(&series.zone).is_none_or(|held| series.generated_at > held.generated_at);
                if series.points.is_empty() || series.age(now) > self.inner.cfg.staleness_bound || !newer {
                    continue;
                }
                let resolution = series
                    .points
                    .first()
                    .and_then(|pt| self.inner.chain.index_of(&pt.provider))
                    .map_or(SignedDuration::from_hours(1), |i| self.inner.chain.provider(i).resolution());
                let next_due = schedule::next_refresh_after_restore(
                    series.generated_at,
                    resolution,
                    &self.inner.cfg.timing,
                    self.jitter(),
                );
                let z = state.zones.entry(series.zone.clone()).or_insert_with(|| ZoneState::new(now));
                z.next_due = next_due;
                z.last_error = None;
                z.failures = 0;
                adopted.push(series);
            }
            for (name, until) in &loaded.rate_limited_until {
                if let Some(i) = self.inner.chain.index_of(name)
                    && *until > now
                {
                    let r = state.rate_limited_until.entry(i).or_insert(*until);
                    *r = (*r).max(*until);
                }
            }
        }
        let count = adopted.len();
        if count > 0 {
            self.change(adopted, &[]);
        }
        self.update_metrics();
        count
    }

    /// When the loop should look again: the earliest due zone, the earliest
    /// expiry of last good data, or the poll interval.
    pub fn next_wakeup(&self) -> Timestamp {
        let now = self.inner.clock.now();
        let mut at = now + self.inner.cfg.poll_interval;
        let wanted = self.wanted_zones();
        let fetching = self.is_fetching();
        let latest = self.forecasts();
        let state = self.inner.state.lock();
        // A follower has nothing due: it never fetches.
        for (zone, z) in &state.zones {
            if fetching && wanted.contains(zone) {
                at = at.min(z.next_due);
            }
        }
        for (_, s) in latest.iter() {
            at = at.min(s.generated_at + self.inner.cfg.staleness_bound + SignedDuration::from_secs(1));
        }
        at.max(now)
    }

    /// Restores persisted state, then refreshes whenever something is due
    /// until `shutdown` completes (while it fetches; see [`StoreOptions::fetching`]).
    /// All waiting goes through the clock.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        self.restore().await;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut fetching = self.inner.opts.fetching.clone();
        loop {
            if self.is_fetching() {
                self.refresh_once().await;
                self.inner.warm.send_replace(true);
            } else {
                // A follower only ages out what the leader stopped refreshing.
                self.expire_stale();
                self.update_metrics();
            }
            let wake_at = self.next_wakeup();
            let role_changed = async {
                match &mut fetching {
                    Some(f) => {
                        if f.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.clock.sleep_until(wake_at) => {}
                _ = self.inner.wake.notified() => {}
                _ = role_changed => {}
            }
        }
        // Only the fetching replica writes the state others follow.
        if self.is_fetching() {
            self.save().await;
        }
    }
}

fn status_of(zone: &Zone, z: &ZoneState, latest: &Forecasts, now: Timestamp) -> ZoneStatus {
    let last_good = latest.get(zone).cloned();
    ZoneStatus {
        zone: zone.clone(),
        age: last_good.as_ref().map(|s| s.age(now)),
        last_good,
        last_error: z.last_error.clone(),
        consecutive_failures: z.failures,
        next_refresh: z.next_due,
    }
}
