//! The vector index as a derived index: each document's vector in `vectors`, and, once the batch
//! is durable, in the in-memory index the HNSW graph is built over.

use super::{ApplyCx, DerivedIndex};
use crate::hnsw::VectorIndex;
use crate::indexer::Prepared;
use crate::keys::{encode_vector_into, DocMeta};
use kvstore_engine::ColumnFamily;
use parking_lot::RwLock;
use std::sync::Arc;

pub(crate) struct VectorRecords {
    pub vectors: ColumnFamily,
    pub index: Arc<RwLock<VectorIndex>>,
}

impl DerivedIndex for VectorRecords {
    fn index<'t>(&self, cx: &mut ApplyCx<'_, 't>, d: &'t Prepared<'_>, _old: Option<&'t DocMeta>) {
        encode_vector_into(&mut cx.vbuf, &d.vector);
        cx.batch.put_cf(&self.vectors, &d.key, &cx.vbuf);
    }

    fn unindex<'t>(&self, cx: &mut ApplyCx<'_, 't>, key: &[u8], _old: &'t DocMeta) {
        cx.batch.delete_cf(&self.vectors, key);
    }

    fn applied(&self, docs: &[&Prepared<'_>], deletes: &[&[u8]]) {
        let mut vi = self.index.write();
        for d in docs {
            vi.upsert(&d.key, &d.vector);
        }
        for key in deletes {
            vi.remove(key);
        }
    }
}
