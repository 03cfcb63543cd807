//! Column family handles: named key spaces sharing the WAL and the sequence numbers.

use std::sync::Arc;

/// The id of the column family every database has.
pub const DEFAULT_CF_ID: u32 = 0;
/// The name of the default column family.
pub const DEFAULT_CF_NAME: &str = "default";

/// A cheap, cloneable handle to a column family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnFamily {
    inner: Arc<(u32, String)>,
}

impl ColumnFamily {
    pub(crate) fn new(id: u32, name: impl Into<String>) -> Self {
        ColumnFamily {
            inner: Arc::new((id, name.into())),
        }
    }

    /// The id recorded in WAL batches and the manifest.
    pub fn id(&self) -> u32 {
        self.inner.0
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.inner.1
    }
}
