//! khulasa turns a news article into a headline, a short summary and key
//! facts with a transformer that runs locally.
//!
//! The stages, in order:
//!
//! 1. [`article`]: read text, Markdown, HTML or JSON; strip page furniture;
//!    normalize (NFC, whitespace, Urdu/Pashto letter forms).
//! 2. [`lang`]: detect English, Urdu or Pashto.
//! 3. [`segment`]: split into sentences.
//! 4. [`chunk`]: pack sentences into chunks sized in the model's tokens.
//! 5. [`summarize`]: one pass, or map (notes per chunk) and reduce, with the
//!    final digest decoded under a JSON constraint ([`generate::constraint`]).
//! 6. [`output`]: text, JSON or Markdown.
//!
//! Models are described by manifests ([`models`]) and resolved to local files
//! before anything is loaded.
//!
//! ```
//! use khulasa::{article, generate::ScriptedGenerator, prompt::Prompts, summarize};
//!
//! let a = article::from_bytes("note.txt", b"Rain fell in Lahore on Monday. 12 roads closed.", &Default::default())?;
//! let reply = r#"{"headline": "Rain closes 12 roads in Lahore", "summary": "Rain fell in Lahore on Monday.", "key_facts": ["Rain fell on Monday.", "12 roads closed.", "It was in Lahore."]}"#;
//! let mut g = ScriptedGenerator::new([reply.to_string()]);
//! let d = summarize::Summarizer::new(&Prompts::embedded(), Default::default()).run(&mut g, &a)?;
//! assert_eq!(d.headline, "Rain closes 12 roads in Lahore");
//! # Ok::<(), khulasa::Error>(())
//! ```

pub mod article;
pub mod batch;
pub mod chunk;
pub mod cli;
pub mod digest;
pub mod error;
pub mod eval;
pub mod generate;
pub mod ground;
pub mod lang;
pub mod models;
pub mod numbers;
pub mod output;
pub mod prompt;
pub mod segment;
pub mod summarize;
pub mod translate;

pub use error::{Error, Result};
