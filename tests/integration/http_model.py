"""Writes a byte-level tokenizer (tokenizer.json, 256 byte tokens, no
merges: GPT-2's byte alphabet) and a small chat template
(tokenizer_config.json) into a model directory, so the 256-token fixture
models can be served with text in the HTTP tests.
usage: python3 http_model.py DIR"""
import json
import sys

d = sys.argv[1]
# Byte-level BPE's alphabet: printable Latin-1 bytes stand for themselves,
# the others (controls, space, soft hyphen) for code points from 256 on.
alphabet, shift = {}, 0
for b in range(256):
    printable = 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255
    alphabet[b] = b if printable else 256 + shift
    shift += not printable
bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
       "pre_tokenizer": bl, "post_processor": None, "decoder": bl,
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                 "vocab": {chr(alphabet[b]): b for b in range(256)}, "merges": []}}
with open(d + "/tokenizer.json", "w") as f:
    json.dump(tok, f)
tmpl = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
with open(d + "/tokenizer_config.json", "w") as f:
    json.dump({"chat_template": tmpl}, f)
