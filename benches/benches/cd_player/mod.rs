//! The classic Boost.MSM CD player, five times: generated from `machines/cd_player.yaml`, a
//! hand-written `match`, and with statig, smlang and rust-fsm. Every implementation calls the same
//! [`Player`] methods as its actions, so they all do the same work and none can be optimised away
//! differently; [`check`] runs each over the same events and compares the resulting data.

pub mod deck;
pub mod generated;
pub mod handwritten;
pub mod rust_fsm_impl;
pub mod smlang_impl;
pub mod statig_impl;

/// The player's data, changed by the actions of every implementation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Player {
    /// Track count of the disc in the drawer.
    pub tracks: u32,
    /// Times playback started or resumed.
    pub plays: u32,
    /// Times playback stopped (or a stop was pressed while stopped).
    pub stops: u32,
    /// Times playback paused.
    pub pauses: u32,
    /// Times the drawer opened or closed.
    pub drawer: u32,
    /// Times the motor spun up or down (the deck's superstate `loaded`; the flat player has none).
    pub spins: u32,
}

impl Player {
    #[inline]
    pub fn start_playback(&mut self) {
        self.plays = self.plays.wrapping_add(1);
    }

    #[inline]
    pub fn resume_playback(&mut self) {
        self.plays = self.plays.wrapping_add(1);
    }

    #[inline]
    pub fn open_drawer(&mut self) {
        self.drawer = self.drawer.wrapping_add(1);
    }

    #[inline]
    pub fn spin_up(&mut self) {
        self.spins = self.spins.wrapping_add(1);
    }

    #[inline]
    pub fn spin_down(&mut self) {
        self.spins = self.spins.wrapping_add(1);
    }

    #[inline]
    pub fn close_drawer(&mut self) {
        self.drawer = self.drawer.wrapping_add(1);
    }

    #[inline]
    pub fn store_cd_info(&mut self, tracks: u32) {
        self.tracks = tracks;
    }

    #[inline]
    pub fn stop_playback(&mut self) {
        self.stops = self.stops.wrapping_add(1);
    }

    #[inline]
    pub fn stopped_again(&mut self) {
        self.stops = self.stops.wrapping_add(1);
    }

    #[inline]
    pub fn pause_playback(&mut self) {
        self.pauses = self.pauses.wrapping_add(1);
    }

    #[inline]
    pub fn stop_and_open(&mut self) {
        self.stops = self.stops.wrapping_add(1);
        self.drawer = self.drawer.wrapping_add(1);
    }
}

/// An event, as the sequence generator makes it; each implementation converts the sequence to its
/// own event type before the measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Play,
    OpenClose,
    Stop,
    CdDetected(u32),
    Pause,
    EndPause,
}

/// `n` events that every implementation accepts, starting from `Empty`: at each step one of the
/// events the current state accepts, picked by a xorshift generator (fixed seed, so every run and
/// every implementation sees the same sequence).
pub fn events(n: usize) -> Vec<Event> {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let mut machine = handwritten::CdPlayer::new(Player::default());
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let accepted: &[Event] = match machine.state() {
            handwritten::State::Empty => &[Event::OpenClose, Event::CdDetected(0)],
            handwritten::State::Open => &[Event::OpenClose],
            handwritten::State::Stopped => &[Event::Play, Event::OpenClose, Event::Stop],
            handwritten::State::Playing => &[Event::Stop, Event::Pause, Event::OpenClose],
            handwritten::State::Paused => &[Event::EndPause, Event::Stop, Event::OpenClose],
        };
        let event = match accepted[next(accepted.len() as u64) as usize] {
            Event::CdDetected(_) => Event::CdDetected(1 + next(20) as u32),
            e => e,
        };
        assert!(
            machine.handle(event).is_ok(),
            "the generator made an event the machine rejects"
        );
        out.push(event);
    }
    out
}

/// Runs every implementation over `events` and checks that they end with the same data.
pub fn check(events: &[Event]) {
    let expected = handwritten::run(handwritten::prepare(events));
    assert!(expected.plays > 0 && expected.stops > 0 && expected.pauses > 0 && expected.drawer > 0);
    assert_eq!(statig_impl::run(statig_impl::prepare(events)), expected, "statig");
    assert_eq!(smlang_impl::run(smlang_impl::prepare(events)), expected, "smlang");
    assert_eq!(rust_fsm_impl::run(rust_fsm_impl::prepare(events)), expected, "rust-fsm");
    assert_eq!(generated::run(generated::prepare(events)), expected, "generated");
}
