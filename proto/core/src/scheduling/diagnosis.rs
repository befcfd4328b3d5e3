//! kube-scheduler's FitError message: `0/N nodes are available: <histogram>.`
//!
//! As in `FitError.Error()` (pkg/scheduler/framework/types.go): each entry is
//! `"<count> <reason>"`, the entries are sorted as plain strings (Go's `sort.Strings`,
//! so "10 …" sorts before "2 …") and joined with ", ". A PreFilter rejection replaces
//! the histogram with its own message. With no nodes at all kube reports
//! `no nodes available to schedule pods`.
use std::collections::HashMap;

use super::filters::Reason;

pub const NO_NODES_MSG: &str = "no nodes available to schedule pods";

/// `reasons`: every reason of every rejected node (a node contributes each of its
/// reasons once).
pub fn fit_error_message<'a>(
    num_nodes: usize,
    pre_filter_msg: Option<&str>,
    reasons: impl IntoIterator<Item = Reason<'a>>,
) -> String {
    if num_nodes == 0 {
        return NO_NODES_MSG.to_string();
    }
    let mut msg = format!("0/{num_nodes} nodes are available:");
    if let Some(pre) = pre_filter_msg {
        msg.push_str(&format!(" {pre}."));
        return msg;
    }
    let mut counts: HashMap<Reason<'a>, usize> = HashMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut entries: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    entries.sort();
    if !entries.is_empty() {
        msg.push_str(&format!(" {}.", entries.join(", ")));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_counted_and_sorted_as_strings() {
        let mut reasons = vec![Reason::Insufficient("cpu"); 2];
        reasons.push(Reason::UntoleratedTaint { key: "k", value: "v" });
        reasons.extend(vec![Reason::NodeAffinity; 10]);
        reasons.push(Reason::Insufficient("memory"));
        let msg = fit_error_message(14, None, reasons);
        assert_eq!(
            msg,
            "0/14 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, \
             10 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu."
        );
    }

    #[test]
    fn prefilter_message_replaces_the_histogram_and_no_nodes_is_special() {
        let msg = fit_error_message(3, Some("pod has unbound immediate PersistentVolumeClaims"), []);
        assert_eq!(msg, "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.");
        assert_eq!(fit_error_message(0, None, []), "no nodes available to schedule pods");
    }
}
