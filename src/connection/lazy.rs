//! State that most connections never need (see [`Cold`](super::cold::Cold)),
//! kept behind one pointer and allocated the first time it is written: an
//! idle or loss-free connection carries 8 octets instead of the state
//! itself, and allocates nothing. Once allocated it stays (no allocation
//! per segment afterwards).

use alloc::boxed::Box;
use core::mem::ManuallyDrop;
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
pub(crate) struct Lazy<T>(ManuallyDrop<Option<Box<T>>>);

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

    /// The state, if it was ever allocated (for memory accounting, and for
    /// tests that the empty value answers without a load).
    #[inline]
    pub(crate) fn allocated(&self) -> Option<&T> {
        self.0.as_deref()
    }
}

/// Dropped by hand (the box is `ManuallyDrop`) so that the drop of a value
/// never allocated (most connections) is one inline test in its owner's
/// drop, not a call.
impl<T> Drop for Lazy<T> {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            free(&mut self.0);
        }
    }
}

/// [`Lazy`]'s drop once allocated, out of line.
#[cold]
#[inline(never)]
fn free<T>(b: &mut Option<Box<T>>) {
    drop(b.take());
}

impl<T: Empty> Deref for Lazy<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &*self.0 {
            Some(b) => b,
            None => T::empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::cold::Cold;

    #[test]
    fn reads_see_the_empty_value_until_the_first_write_allocates() {
        let mut l: Lazy<Cold> = Lazy::default();
        assert!(l.present().is_none());
        assert!(l.scoreboard.is_empty());
        assert_eq!(l.retries, 0);
        assert!(l.allocated().is_none());
        l.make().retries += 1;
        assert!(l.present().is_some());
        assert!(l.allocated().is_some());
        assert_eq!(l.retries, 1);
        assert_eq!(Cold::empty().retries, 0);
    }
}
