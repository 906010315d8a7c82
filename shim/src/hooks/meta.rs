//! Metadata calls: modes, owners, times and extended attributes.
