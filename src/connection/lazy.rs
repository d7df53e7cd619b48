//! State that most connections never need (a SACK scoreboard, PRR, the SACK
//! blocks to report, queued replies, the undo state of a loss response), kept behind one pointer and allocated
//! the first time it is written: an idle or loss-free connection carries
//! 8 octets for each instead of the state itself, and allocates nothing.
//! Once allocated it stays (no allocation per segment afterwards).

use alloc::boxed::Box;
use core::ops::Deref;

/// A type with a shared, read-only empty value to stand in while nothing
/// was allocated.
pub(crate) trait Empty: Default + 'static {
    /// The empty value (equal to `Default::default()`).
    fn empty() -> &'static Self;
}

/// `T`, allocated on first write. Reads go through `Deref` (the empty
/// value while unallocated); writes use [`make`](Lazy::make) or
/// [`present`](Lazy::present), so that every allocating call site is explicit.
#[derive(Debug, Default)]
pub(crate) struct Lazy<T>(Option<Box<T>>);

impl<T: Empty> Lazy<T> {
    /// The state to write, allocated now if it was not.
    #[inline]
    pub(crate) fn make(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }

    /// The state to write, if it was ever allocated (a write that would
    /// leave the empty value unchanged needs nothing more).
    #[inline]
    pub(crate) fn present(&mut self) -> Option<&mut T> {
        self.0.as_deref_mut()
    }
}

impl<T: Empty> Deref for Lazy<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &self.0 {
            Some(b) => b,
            None => T::empty(),
        }
    }
}

mod empties {
    use super::Empty;
    use crate::recovery::{Prr, SackReport, Scoreboard, Undo};
    use crate::wire::Segment;
    use alloc::collections::VecDeque;

    static SCOREBOARD: Scoreboard = Scoreboard::EMPTY;
    static UNDO: Undo = Undo::EMPTY;
    static PRR: Prr = Prr::EMPTY;
    static SACK_REPORT: SackReport = SackReport::EMPTY;
    static REPLIES: VecDeque<Segment> = VecDeque::new();

    impl Empty for Scoreboard {
        fn empty() -> &'static Self {
            &SCOREBOARD
        }
    }

    impl Empty for Prr {
        fn empty() -> &'static Self {
            &PRR
        }
    }

    impl Empty for Undo {
        fn empty() -> &'static Self {
            &UNDO
        }
    }

    impl Empty for SackReport {
        fn empty() -> &'static Self {
            &SACK_REPORT
        }
    }

    impl Empty for VecDeque<Segment> {
        fn empty() -> &'static Self {
            &REPLIES
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::{Prr, SackReport, Scoreboard};

    #[test]
    fn the_empty_values_equal_the_defaults() {
        assert!(Scoreboard::empty().is_empty());
        assert_eq!(Scoreboard::empty().sacked_bytes(), 0);
        assert!(SackReport::empty().is_empty());
        assert_eq!(
            alloc::format!("{:?}", crate::recovery::Undo::empty()),
            alloc::format!("{:?}", crate::recovery::Undo::default())
        );
        assert_eq!(
            alloc::format!("{:?}", Prr::empty()),
            alloc::format!("{:?}", Prr::default())
        );
        let mut l: Lazy<Scoreboard> = Lazy::default();
        assert!(l.present().is_none());
        assert!(l.is_empty());
        l.make();
        assert!(l.present().is_some());
    }
}
