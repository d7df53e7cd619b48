//! Decode and encode of whole segments.
