//! A double-ended queue that is one pointer until first used and can give all its memory
//! back when empty.
//!
//! Every session keeps its message queue, retained backlog and in-flight window for life,
//! and most sessions are idle: as plain `VecDeque`s the three cost 96 bytes even empty.
//! Emptying does not free the queue (a busy session would allocate once per burst);
//! [`LazyDeque::shrink_to_fit`], called as a connection falls asleep, does.

use std::collections::VecDeque;

/// A `VecDeque` allocated on the first push.
#[derive(Debug)]
#[allow(clippy::box_collection)] // the point: one pointer (8 bytes) instead of 32 while unused
pub(crate) struct LazyDeque<T>(Option<Box<VecDeque<T>>>);

impl<T> Default for LazyDeque<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<T> LazyDeque<T> {
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |d| d.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn front(&self) -> Option<&T> {
        self.0.as_ref()?.front()
    }

    pub(crate) fn back(&self) -> Option<&T> {
        self.0.as_ref()?.back()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().flat_map(|d| d.iter())
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.0.iter_mut().flat_map(|d| d.iter_mut())
    }

    fn deque(&mut self) -> &mut VecDeque<T> {
        self.0.get_or_insert_with(Box::default)
    }

    pub(crate) fn push_back(&mut self, value: T) {
        self.deque().push_back(value);
    }

    pub(crate) fn push_front(&mut self, value: T) {
        self.deque().push_front(value);
    }

    pub(crate) fn pop_front(&mut self) -> Option<T> {
        self.0.as_mut()?.pop_front()
    }

    pub(crate) fn pop_back(&mut self) -> Option<T> {
        self.0.as_mut()?.pop_back()
    }

    pub(crate) fn remove(&mut self, index: usize) -> Option<T> {
        self.0.as_mut()?.remove(index)
    }

    /// Takes everything out, memory included.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        self.0.take().into_iter().flat_map(|d| *d)
    }

    /// Frees the queue if it is empty; otherwise gives back capacity beyond its length.
    pub(crate) fn shrink_to_fit(&mut self) {
        match &mut self.0 {
            Some(d) if d.is_empty() => self.0 = None,
            Some(d) => d.shrink_to_fit(),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LazyDeque;

    #[test]
    fn holds_no_memory_until_used_nor_after_shrinking_empty() {
        let mut q = LazyDeque::default();
        assert!(q.0.is_none() && q.pop_front().is_none() && q.is_empty());
        q.push_back(2);
        q.push_front(1);
        q.push_back(3);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!((q.front(), q.back(), q.len()), (Some(&1), Some(&3), 3));
        q.iter_mut().for_each(|v| *v *= 10);
        assert_eq!(q.remove(1), Some(20));
        assert_eq!(q.pop_back(), Some(30));
        q.shrink_to_fit();
        assert!(q.0.is_some(), "not empty yet");
        assert_eq!(q.pop_front(), Some(10));
        assert!(q.0.is_some(), "emptying keeps the memory for the next burst");
        q.shrink_to_fit();
        assert!(q.0.is_none());
        q.push_back(4);
        assert_eq!(q.drain().collect::<Vec<_>>(), [4]);
        assert!(q.0.is_none(), "drained whole");
    }
}
