//! Chat templates: the model's own (`tokenizer.chat_template` in GGUF)
//! rendered with minijinja, and tested presets as fallback.

use minijinja::{context, Environment, Error as JinjaError, ErrorKind};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::generate::{Message, Role};

/// ChatML, used by Qwen and SmolLM.
pub const CHATML: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
/// Llama 3.
pub const LLAMA3: &str = "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}";
/// Gemma: no system role, so the system text opens the first user turn.
pub const GEMMA: &str = "{{ bos_token }}{% set sys = namespace(text='') %}{% for m in messages %}{% if m.role == 'system' %}{% set sys.text = m.content + '\n\n' %}{% else %}<start_of_turn>{{ 'model' if m.role == 'assistant' else 'user' }}\n{% if loop.index0 == 1 or (loop.first and m.role == 'user') %}{{ sys.text }}{% endif %}{{ m.content | trim }}<end_of_turn>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

/// A chat template ready to render.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
    /// Where the template came from (`gguf` or a preset name).
    pub origin: String,
}

#[derive(Serialize)]
struct Msg<'a> {
    role: &'a str,
    content: &'a str,
}

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

impl ChatTemplate {
    /// A template from its Jinja source.
    pub fn new(source: impl Into<String>, origin: impl Into<String>, bos: &str, eos: &str) -> Self {
        Self {
            source: source.into(),
            bos: bos.into(),
            eos: eos.into(),
            origin: origin.into(),
        }
    }

    /// The preset for an architecture: llama3 for `llama` with a Llama 3
    /// vocabulary, gemma for `gemma*`, ChatML otherwise.
    pub fn preset(architecture: &str, has_llama3_tokens: bool, bos: &str, eos: &str) -> Self {
        let (src, name) = if architecture.starts_with("gemma") {
            (GEMMA, "preset:gemma")
        } else if architecture == "llama" && has_llama3_tokens {
            (LLAMA3, "preset:llama3")
        } else {
            (CHATML, "preset:chatml")
        };
        Self::new(src, name, bos, eos)
    }

    /// Renders the chat with the assistant's turn opened.
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |msg: String| -> std::result::Result<String, JinjaError> {
                Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
            },
        );
        let msgs: Vec<Msg<'_>> = messages
            .iter()
            .map(|m| Msg {
                role: role(m.role),
                content: &m.content,
            })
            .collect();
        env.render_str(
            &self.source,
            context! {
                messages => msgs,
                add_generation_prompt => true,
                bos_token => self.bos,
                eos_token => self.eos,
                enable_thinking => false,
            },
        )
        .map_err(|source| Error::Template {
            name: format!("chat template ({})", self.origin),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Vec<Message> {
        vec![Message::system("Be brief."), Message::user("Hello")]
    }

    #[test]
    fn chatml_preset() {
        let t = ChatTemplate::preset("qwen2", false, "", "<|im_end|>");
        assert_eq!(
            t.render(&chat()).unwrap(),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn llama3_preset() {
        let t = ChatTemplate::preset("llama", true, "<|begin_of_text|>", "<|eot_id|>");
        let s = t.render(&chat()).unwrap();
        assert!(s.starts_with(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        ));
        assert!(s.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"));
    }

    #[test]
    fn gemma_preset_folds_system_into_user() {
        let t = ChatTemplate::preset("gemma3", false, "<bos>", "<eos>");
        assert_eq!(
            t.render(&chat()).unwrap(),
            "<bos><start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n<start_of_turn>model\n"
        );
    }

    #[test]
    fn qwen25_style_template_with_python_methods() {
        // The shape of Qwen2.5's own template: system default, tools branch, string methods.
        let src = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'].strip() + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{%- if message.role != 'system' %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
        let t = ChatTemplate::new(src, "gguf", "", "");
        assert_eq!(
            t.render(&chat()).unwrap(),
            ChatTemplate::preset("qwen2", false, "", "")
                .render(&chat())
                .unwrap()
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = ChatTemplate::new("{{ raise_exception('no system role') }}", "gguf", "", "");
        assert!(t
            .render(&chat())
            .unwrap_err()
            .to_string()
            .contains("no system role"));
    }
}
