"""Chat formatting: one place that turns a row into messages and into the exact prompt a model sees.

SFT, generation, evaluation (and RL) all build prompts here, so a model is trained and tested on
the same text. Torch-free; the tokenizer is passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def messages(row: Mapping[str, Any], response: str | None = None) -> list[dict[str, str]]:
    """`[system], user prompt[, assistant response]` for a row."""
    chat = []
    if row.get("system"):
        chat.append({"role": "system", "content": str(row["system"])})
    chat.append({"role": "user", "content": str(row["prompt"])})
    if response is not None:
        chat.append({"role": "assistant", "content": response})
    return chat


def has_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a chat template (base models often do not)."""
    return bool(getattr(tokenizer, "chat_template", None))


def has_generation_markers(tokenizer: Any) -> bool:
    """Whether the template marks assistant text with `{% generation %}` (needed for assistant-only loss)."""
    template = getattr(tokenizer, "chat_template", None) or ""
    return "{% generation %}" in template or "{%- generation %}" in template


def plain_prompt(row: Mapping[str, Any]) -> str:
    """The prompt as plain text, for tokenizers without a chat template."""
    system = f"{row['system']}\n\n" if row.get("system") else ""
    return f"{system}{row['prompt']}\n"


def prompt_text(tokenizer: Any, row: Mapping[str, Any]) -> str:
    """The generation prompt for a row: chat template with the assistant turn opened, or plain text."""
    if not has_template(tokenizer):
        return plain_prompt(row)
    return tokenizer.apply_chat_template(messages(row), tokenize=False, add_generation_prompt=True)


def end_of_turn_id(tokenizer: Any) -> int | None:
    """The token the chat template closes an assistant turn with (`<|im_end|>` for ChatML), or None.

    Base models often list only `<|endoftext|>` as EOS although their template ends turns with
    another token; generation must stop at this one too, or it runs past the answer.
    """
    if not has_template(tokenizer):
        return None
    marker = "XQZ-answer-end"
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": marker}]
    try:
        text = tokenizer.apply_chat_template(chat, tokenize=False)
    except Exception:  # a template that refuses this minimal chat tells us nothing
        return None
    tail = text.split(marker, 1)[-1] if marker in text else ""
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail.strip() else []
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    return next((i for i in ids if i in special or i in added), None)


def stop_ids(tokenizer: Any, configured: int | list[int] | None = None) -> list[int]:
    """Every id that ends a response: the model's configured EOS ids, the tokenizer's EOS, the end of turn."""
    listed = configured if isinstance(configured, list) else [configured]
    found = [*listed, tokenizer.eos_token_id, end_of_turn_id(tokenizer)]
    return list(dict.fromkeys(i for i in found if i is not None))
