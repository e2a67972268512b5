//! The WebSocket ping rate: no window of a second answers more than it.

use super::*;

#[test]
fn no_window_of_a_second_answers_more_than_the_rate() {
    let start = Instant::now();
    let mut rate = PingRate::new(start);
    // A flood: every ping arrives as soon as reading resumes.
    let mut now = start;
    let mut answered_at = Vec::new();
    for _ in 0..100 {
        if let Some(resume) = rate.admit(now) {
            now = resume;
        }
        answered_at.push(now);
    }
    for (i, &at) in answered_at.iter().enumerate() {
        let within = answered_at[i..]
            .iter()
            .take_while(|&&later| later - at < Duration::from_secs(1))
            .count();
        assert!(
            within <= PINGS_PER_SECOND as usize,
            "{within} pings within a second of ping {i}"
        );
    }
    // And the rate is reached: 100 pings take about 10 s.
    let took = *answered_at.last().expect("answered") - start;
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(10),
        "{took:?}"
    );
}
