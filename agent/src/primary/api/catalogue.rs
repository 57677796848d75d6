//! The primary's columns of Seafile's tables, read at most every [`CATALOGUE_TTL`].
//!
//! Every `rows` request needs them, and reading `information_schema.columns` is the costliest
//! statement of such a request on MySQL; a first copy asks for the rows of every library. A
//! column added by a Seafile upgrade is seen within the TTL (upgrades run their schema scripts
//! with the server stopped, so it is rarely even that late), and a column dropped makes the
//! next read fail and the catalogue be read again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use seaf_seafile::library_rows::Catalogue;
use seaf_seafile::{DbError, SeafileDb};
use tokio::sync::Mutex;

/// How long a catalogue read serves.
pub const CATALOGUE_TTL: Duration = Duration::from_secs(10);

/// A catalogue and when it was read.
type Read = (Instant, Arc<Catalogue>);

/// The last catalogue read and when; one reader at a time, so an expiry under load reads it
/// once, not once per request.
#[derive(Clone, Default)]
pub struct CachedCatalogue {
    last: Arc<Mutex<Option<Read>>>,
}

impl CachedCatalogue {
    pub async fn get(&self, db: &SeafileDb) -> Result<Arc<Catalogue>, DbError> {
        let mut last = self.last.lock().await;
        if let Some((read, catalogue)) = last.as_ref() {
            if read.elapsed() < CATALOGUE_TTL {
                return Ok(catalogue.clone());
            }
        }
        let fresh = Arc::new(db.catalogue().await?);
        *last = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// A read with it failed: read it again next time.
    pub async fn forget(&self) {
        *self.last.lock().await = None;
    }
}
