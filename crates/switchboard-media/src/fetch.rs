//! `<Play>` audio over HTTP: fetched, decoded to 8 kHz once, and cached by URL.
//!
//! A cached file is revalidated on every play with the validators it came with (`ETag` as
//! `If-None-Match`, `Last-Modified` as `If-Modified-Since`); a `304` keeps the cached PCM, so a
//! prompt played on every call costs one small request and no decoding. A response without
//! validators cannot be revalidated and is fetched again next time (caching it blindly would
//! keep playing stale audio after the customer changed the file). The body is streamed and the
//! download stops as soon as it passes [`MAX_MEDIA_BYTES`]; the content is recognised by
//! sniffing in `decode`, never by `Content-Type`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};

use crate::{MAX_MEDIA_BYTES, MediaError, Pcm};

/// Files kept in the cache; the least recently used goes first.
const CACHE_ENTRIES: usize = 256;
/// Whole-request deadline of one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Cached {
    etag: Option<String>,
    last_modified: Option<String>,
    pcm: Pcm,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<String, Cached>,
    clock: u64,
}

#[derive(Debug)]
struct Inner {
    client: Result<reqwest::Client, String>,
    cache: Mutex<Cache>,
}

/// Fetches and caches `<Play>` audio; cheap to clone.
#[derive(Debug, Clone)]
pub struct AudioFetcher {
    inner: Arc<Inner>,
}

impl Default for AudioFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioFetcher {
    /// A fetcher with its own HTTP client and an empty cache.
    pub fn new() -> AudioFetcher {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(FETCH_TIMEOUT)
            .user_agent("Switchboard media fetcher")
            .build()
            .map_err(|e| e.to_string());
        AudioFetcher {
            inner: Arc::new(Inner {
                client,
                cache: Mutex::new(Cache::default()),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // Entries are replaced whole, so a poisoned lock holds consistent data.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// 8 kHz PCM of the audio at `url`.
    pub async fn fetch(&self, url: &str) -> Result<Pcm, MediaError> {
        let client = self
            .inner
            .client
            .as_ref()
            .map_err(|e| MediaError::Fetch(e.clone()))?;
        let cached = self.lock().entries.get(url).cloned();
        let mut request = client.get(url);
        if let Some(cached) = &cached {
            if let Some(etag) = &cached.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(date) = &cached.last_modified {
                request = request.header(IF_MODIFIED_SINCE, date);
            }
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| MediaError::Fetch(e.without_url().to_string()))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(cached) = cached
        {
            self.touch(url);
            return Ok(cached.pcm);
        }
        if !status.is_success() {
            return Err(MediaError::Fetch(format!("status {status}")));
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(ETAG);
        let last_modified = header(LAST_MODIFIED);
        if response
            .content_length()
            .is_some_and(|length| length > MAX_MEDIA_BYTES as u64)
        {
            return Err(MediaError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaError::Fetch(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_MEDIA_BYTES {
                return Err(MediaError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let pcm = tokio::task::spawn_blocking(move || crate::decode::decode_to_8k(&body))
            .await
            .map_err(|e| MediaError::Decode(format!("decoding task failed: {e}")))??;
        let pcm = Pcm::from(pcm);
        self.store(url, etag, last_modified, pcm.clone());
        Ok(pcm)
    }

    fn touch(&self, url: &str) {
        let mut cache = self.lock();
        cache.clock += 1;
        let now = cache.clock;
        if let Some(entry) = cache.entries.get_mut(url) {
            entry.last_used = now;
        }
    }

    fn store(&self, url: &str, etag: Option<String>, last_modified: Option<String>, pcm: Pcm) {
        let mut cache = self.lock();
        if etag.is_none() && last_modified.is_none() {
            cache.entries.remove(url);
            return;
        }
        cache.clock += 1;
        let last_used = cache.clock;
        if cache.entries.len() >= CACHE_ENTRIES
            && !cache.entries.contains_key(url)
            && let Some(oldest) = cache
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
        {
            cache.entries.remove(&oldest);
        }
        let entry = Cached {
            etag,
            last_modified,
            pcm,
            last_used,
        };
        cache.entries.insert(url.to_owned(), entry);
    }
}
