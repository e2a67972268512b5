//! The admin routes: a request path to the route it names (path segments
//! percent-decoded), and the methods each route takes.

use super::query::percent_decode;

/// What `/reset/{what}` resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResetTarget {
    Sequences,
    Counters,
    Registrations,
    Dialogs,
}

/// The routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    Requests,
    RequestCount,
    RequestWait,
    Unmatched,
    Metrics,
    Health,
    Registrations,
    Rules,
    Rule(String),
    Dialogs,
    Dialog(String),
    Scope(String),
    Reset(Option<ResetTarget>),
    Reload,
    /// A path segment that is not valid percent-encoded UTF-8.
    BadPath,
}

impl Route {
    /// The route of `path`, if any (paths are exact: no trailing slash).
    pub(super) fn of(path: &str) -> Option<Self> {
        let fixed = match path {
            "/requests" => Some(Self::Requests),
            "/requests/count" => Some(Self::RequestCount),
            "/requests/wait" => Some(Self::RequestWait),
            "/requests/unmatched" => Some(Self::Unmatched),
            "/metrics" => Some(Self::Metrics),
            "/health" => Some(Self::Health),
            "/registrations" => Some(Self::Registrations),
            "/rules" => Some(Self::Rules),
            "/dialogs" => Some(Self::Dialogs),
            "/reset" => Some(Self::Reset(None)),
            "/reset/sequences" => Some(Self::Reset(Some(ResetTarget::Sequences))),
            "/reset/counters" => Some(Self::Reset(Some(ResetTarget::Counters))),
            "/reset/registrations" => Some(Self::Reset(Some(ResetTarget::Registrations))),
            "/reset/dialogs" => Some(Self::Reset(Some(ResetTarget::Dialogs))),
            "/reload" => Some(Self::Reload),
            _ => None,
        };
        if fixed.is_some() {
            return fixed;
        }
        let (prefix, segment) = path.get(1..)?.split_once('/')?;
        if segment.is_empty() || segment.contains('/') {
            return None;
        }
        let make = match prefix {
            "rules" => Self::Rule,
            "dialogs" => Self::Dialog,
            "scopes" => Self::Scope,
            _ => return None,
        };
        Some(percent_decode(segment).map_or(Self::BadPath, make))
    }

    /// The `Allow` header of the route.
    pub(super) fn allow(&self) -> &'static str {
        match self {
            Self::Requests => "GET, HEAD, DELETE",
            Self::Rules => "GET, HEAD, POST",
            Self::Rule(_) => "GET, HEAD, PUT, DELETE",
            Self::Dialog(_) | Self::Scope(_) => "DELETE",
            Self::Reset(_) | Self::Reload => "POST",
            Self::BadPath => "GET, HEAD",
            Self::RequestCount
            | Self::RequestWait
            | Self::Unmatched
            | Self::Metrics
            | Self::Health
            | Self::Registrations
            | Self::Dialogs => "GET, HEAD",
        }
    }

    /// Every fixed path, for the 404's list and the OpenAPI test.
    pub(super) const PATHS: [&'static str; 18] = [
        "/requests",
        "/requests/count",
        "/requests/wait",
        "/requests/unmatched",
        "/metrics",
        "/health",
        "/registrations",
        "/rules",
        "/rules/{name}",
        "/dialogs",
        "/dialogs/{call_id}",
        "/scopes/{scope}",
        "/reset",
        "/reset/sequences",
        "/reset/counters",
        "/reset/registrations",
        "/reset/dialogs",
        "/reload",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_exact() {
        assert_eq!(Route::of("/requests"), Some(Route::Requests));
        assert_eq!(Route::of("/requests/wait"), Some(Route::RequestWait));
        assert_eq!(Route::of("/metrics"), Some(Route::Metrics));
        assert_eq!(Route::of("/health"), Some(Route::Health));
        assert_eq!(Route::of("/registrations"), Some(Route::Registrations));
        assert_eq!(
            Route::of("/reset/dialogs"),
            Some(Route::Reset(Some(ResetTarget::Dialogs)))
        );
        for other in [
            "/",
            "",
            "/requests/",
            "/Requests",
            "/metrics/x",
            "/healthz",
            "/rules/",
            "/rules/a/b",
            "/reset/all",
            "/scopes",
            "/x/y",
        ] {
            assert_eq!(Route::of(other), None, "{other}");
        }
    }

    #[test]
    fn segments_are_decoded() {
        assert_eq!(
            Route::of("/rules/busy%20line"),
            Some(Route::Rule("busy line".into()))
        );
        assert_eq!(
            Route::of("/dialogs/a84b%40pc33"),
            Some(Route::Dialog("a84b@pc33".into()))
        );
        assert_eq!(Route::of("/scopes/t1"), Some(Route::Scope("t1".into())));
        assert_eq!(Route::of("/rules/%ZZ"), Some(Route::BadPath));
    }

    #[test]
    fn allow_lists_the_methods() {
        assert_eq!(Route::Requests.allow(), "GET, HEAD, DELETE");
        assert_eq!(Route::Metrics.allow(), "GET, HEAD");
        assert_eq!(Route::Rule("x".into()).allow(), "GET, HEAD, PUT, DELETE");
    }
}
