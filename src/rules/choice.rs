//! How a rule picks its policy: always the same one, one of several by
//! weight, or the next of a sequence keyed by Call-ID, From user or
//! Request-URI.

use std::fmt;
use std::sync::Arc;

use super::ReplyPolicy;
use super::sequence::SequenceTable;
use crate::sip::{Request, sip_user};

/// What identifies "the same caller" for a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceKey {
    CallId,
    FromUser,
    RequestUri,
}

impl SequenceKey {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "call_id" => Some(Self::CallId),
            "from_user" => Some(Self::FromUser),
            "request_uri" => Some(Self::RequestUri),
            _ => None,
        }
    }

    fn of(self, request: &Request) -> String {
        match self {
            Self::CallId => request.call_id().to_owned(),
            Self::FromUser => sip_user(request.from_uri())
                .unwrap_or(request.from_uri())
                .to_owned(),
            Self::RequestUri => request.uri().to_owned(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::CallId => "Call-ID",
            Self::FromUser => "From user",
            Self::RequestUri => "Request-URI",
        }
    }
}

/// A rule's policy choice.
#[derive(Debug)]
pub enum Choice {
    One(Arc<ReplyPolicy>),
    /// `(weight, policy)`; weights sum to `total` (> 0).
    Weighted {
        outcomes: Vec<(u32, Arc<ReplyPolicy>)>,
        total: u64,
    },
    Sequence {
        key: SequenceKey,
        policies: Vec<Arc<ReplyPolicy>>,
        seen: SequenceTable,
    },
}

impl Choice {
    pub fn weighted(outcomes: Vec<(u32, Arc<ReplyPolicy>)>) -> Self {
        let total = outcomes.iter().map(|(w, _)| u64::from(*w)).sum();
        Self::Weighted { outcomes, total }
    }

    pub fn sequence(
        key: SequenceKey,
        seen: SequenceTable,
        policies: Vec<Arc<ReplyPolicy>>,
    ) -> Self {
        Self::Sequence {
            key,
            policies,
            seen,
        }
    }

    /// The policy for one request.
    pub fn pick(&self, request: &Request, rng: &mut fastrand::Rng) -> Arc<ReplyPolicy> {
        match self {
            Self::One(policy) => policy.clone(),
            Self::Weighted { outcomes, total } => {
                let mut ticket = rng.u64(..(*total).max(1));
                for (weight, policy) in outcomes {
                    if ticket < u64::from(*weight) {
                        return policy.clone();
                    }
                    ticket -= u64::from(*weight);
                }
                outcomes
                    .last()
                    .map(|(_, p)| p.clone())
                    .unwrap_or_else(|| Arc::new(ReplyPolicy::Drop))
            }
            Self::Sequence {
                key,
                policies,
                seen,
            } => {
                let index = seen.next_index(&key.of(request));
                policies[index.min(policies.len().saturating_sub(1))].clone()
            }
        }
    }

    /// Every policy the choice can give.
    pub fn policies(&self) -> Vec<&Arc<ReplyPolicy>> {
        match self {
            Self::One(policy) => vec![policy],
            Self::Weighted { outcomes, .. } => outcomes.iter().map(|(_, p)| p).collect(),
            Self::Sequence { policies, .. } => policies.iter().collect(),
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::One(policy) => writeln!(f, "   replies: {policy}"),
            Self::Weighted { outcomes, total } => {
                for (weight, policy) in outcomes {
                    writeln!(f, "   {weight}/{total} of the time: {policy}")?;
                }
                Ok(())
            }
            Self::Sequence {
                key,
                policies,
                seen,
            } => {
                for (i, policy) in policies.iter().enumerate() {
                    let nth = if i + 1 == policies.len() {
                        format!("request {} and later", i + 1)
                    } else {
                        format!("request {}", i + 1)
                    };
                    writeln!(
                        f,
                        "   {nth} with the same {} (within {} ms): {policy}",
                        key.name(),
                        seen.ttl().as_millis()
                    )?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Limits, parse_datagram};

    fn request(call_id: &str) -> Request {
        let text = format!(
            "INVITE sip:u@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:alice@h>;tag=1\r\nTo: <sip:u@h>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n"
        );
        Request::validate(parse_datagram(text.as_bytes(), &Limits::default()).expect("parse"))
            .expect("valid")
    }

    fn tagged(n: u16) -> Arc<ReplyPolicy> {
        Arc::new(ReplyPolicy::Respond {
            progress: Vec::new(),
            final_step: Some(crate::rules::Step {
                verb: crate::sip::Verb::Reply,
                status: n,
                reason: crate::rules::template::Template::literal(""),
                extra_headers: crate::rules::HeaderLines::default(),
                content_type: None,
                body: crate::rules::Body::None,
                delay: crate::rules::Delay::ZERO,
                hangup_after: None,
                media: None,
            }),
            message: None,
            no_answer: None,
            no_media_port: None,
        })
    }

    fn status(policy: &ReplyPolicy) -> u16 {
        policy.steps().last().map_or(0, |s| s.status)
    }

    #[test]
    fn weighted_draws_are_reproducible_and_proportional() {
        let choice = Choice::weighted(vec![(1, tagged(200)), (3, tagged(486)), (6, tagged(503))]);
        let request = request("w");
        let draw = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..10_000)
                .map(|_| status(&choice.pick(&request, &mut rng)))
                .collect::<Vec<_>>()
        };
        let first = draw(7);
        assert_eq!(first, draw(7), "the same seed gives the same sequence");
        assert_ne!(first, draw(8));
        for (code, share) in [(200, 0.1), (486, 0.3), (503, 0.6)] {
            let seen = first.iter().filter(|s| **s == code).count() as f64 / 10_000.0;
            assert!((seen - share).abs() < 0.02, "{code}: {seen} vs {share}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sequences_advance_per_key_and_forget_after_the_ttl() {
        let choice = Choice::sequence(
            SequenceKey::CallId,
            SequenceTable::new(10, std::time::Duration::from_secs(10)),
            vec![tagged(503), tagged(200)],
        );
        let mut rng = fastrand::Rng::with_seed(1);
        let pick = |id: &str, rng: &mut fastrand::Rng| status(&choice.pick(&request(id), rng));
        assert_eq!(pick("a", &mut rng), 503);
        assert_eq!(
            pick("b", &mut rng),
            503,
            "another key starts at the first policy"
        );
        assert_eq!(pick("a", &mut rng), 200);
        assert_eq!(pick("a", &mut rng), 200, "the last policy repeats");
        tokio::time::advance(std::time::Duration::from_secs(11)).await;
        assert_eq!(pick("a", &mut rng), 503, "forgotten after the TTL");
    }
}
