"""Chat templates with Jinja payloads: llama-cpp-python compiles a GGUF's
``tokenizer.chat_template*`` strings at load (sandboxed Jinja), but famtune never renders
them (it builds its own prompts); templates are bounded and compiled by the checker first."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from engine.gguf.lora import read_lora_gguf_info, write_lora_gguf
from tests.test_fuzz.gguf import run_probe, string_kv, with_kvs
from tests.test_inference import N_LAYERS, lora_tensors

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE_PROBE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import jinja2.environment

    renders = []
    for name in ("render", "generate", "stream", "render_async", "generate_async"):
        original = getattr(jinja2.environment.Template, name, None)
        if original is not None:
            def spy(self, *args, _name=name, _original=original, **kwargs):
                renders.append(_name)
                return _original(self, *args, **kwargs)
            setattr(jinja2.environment.Template, name, spy)

    from engine.base.errors import ModelFileError
    from engine.inference.generation import JsonGenerator
    from engine.inference.prompts import recommendation_schema

    cases, start = json.loads(sys.argv[1]), int(sys.argv[2])
    setup = json.loads(sys.argv[3])
    for index in range(start, len(cases)):
        label, path = cases[index]
        print("START", index, flush=True)
        try:
            JsonGenerator(Path(path), n_threads=1, n_ctx=64).close()
            outcome = "loaded"
        except ModelFileError as exc:
            outcome = "refused: " + str(exc)
        print("RESULT", json.dumps([label, outcome]), flush=True)

    service = JsonGenerator(Path(setup["base"]), n_threads=1, n_ctx=256)
    compiled = sorted(service._llm._chat_handlers)
    adapter = Path(setup["adapter"])
    service.check_adapter(adapter)
    schema = recommendation_schema(["kite-flying", "board-games"], 1)
    answer = service.generate_json("Pick one activity.", schema, adapter=adapter, max_tokens=8)
    service.raw_generate("Pick one activity.", schema, max_tokens=4)
    service.tokenize("Hello")
    service.close()
    report = {"compiled": compiled, "renders": list(renders), "tokens": answer.tokens}

    # Were they ever rendered, llama-cpp-python's sandbox would stop the payloads.
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    for key, template in setup["sandboxed"].items():
        try:
            formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
            formatter(messages=[{"role": "user", "content": "hi"}])
            report["sandbox:" + key] = "rendered"
        except Exception as exc:
            report["sandbox:" + key] = type(exc).__name__
    print("RESULT", json.dumps(["report", report]), flush=True)
    """
)


def test_engine_never_renders_a_chat_template() -> None:
    """famtune builds its own prompts and completes them as plain text: nothing in the engine
    asks llama-cpp-python or transformers to render a model's chat template."""
    renderers = ("create_chat_completion(", "chat_handler=", "chat_format=",
                 "apply_chat_template(", "Jinja2ChatFormatter(", "from_string(", ".render(")
    found = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in (ROOT / "engine").rglob("*.py")
        for needle in renderers
        if needle in path.read_text(encoding="utf-8")
        and not (needle == "Jinja2ChatFormatter(" and path.name == "checks.py")
    ]
    assert found == []


@pytest.mark.slow
def test_jinja_payload_templates_are_never_rendered_and_bad_ones_are_refused(
    base_file: Path, tmp_path: Path
) -> None:
    mark = tmp_path / "pwned"
    payloads = {
        "tokenizer.chat_template": "{{ cycler.__init__.__globals__.os.system('touch "
        + str(mark) + "') }}",
        "tokenizer.chat_template.mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "tokenizer.chat_template.range": "{% for i in range(10**12) %}{{ i }}{% endfor %}",
        "tokenizer.chat_template.hang": (
            "{% for a in 'x' * 100000 %}{% for b in 'x' * 100000 %}{% endfor %}{% endfor %}"
        ),
    }
    records = [string_kv(key, text) for key, text in payloads.items()]
    payload_base = with_kvs(base_file, tmp_path / "payload-base.gguf", records)

    good_adapter = tmp_path / "adapter.gguf"
    write_lora_gguf(good_adapter, lora_tensors(layers=range(2), scale=0.01), alpha=16.0,
                    n_layers=N_LAYERS)  # fmt: skip
    payload_adapter = with_kvs(good_adapter, tmp_path / "payload-adapter.gguf", records)
    assert read_lora_gguf_info(payload_adapter)["checksum_verified"]

    refused = {
        "oversized": "{{ x }}" * 10_000,  # 70 KB; a megabyte compiles in ~8 s
        "syntax-error": "{% for %}",
        "deep-nesting": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",  # RecursionError
    }
    cases = [
        [label, str(with_kvs(base_file, tmp_path / f"{label}.gguf",
                             [string_kv("tokenizer.chat_template", text)], sparse_data=True))]
        for label, text in refused.items()
    ]  # fmt: skip
    setup = {
        "base": str(payload_base),
        "adapter": str(payload_adapter),
        "sandboxed": {k: v for k, v in payloads.items() if not k.endswith("hang")},
    }
    results = run_probe(TEMPLATE_PROBE, cases, json.dumps(setup))

    for label in refused:
        assert results[label].startswith("refused: base model file"), results[label]
        assert "chat template" in results[label], results[label]
    report = results["report"]
    assert report["compiled"] == [
        "chat_template.default", "chat_template.hang", "chat_template.mro",
        "chat_template.range",
    ]  # fmt: skip
    assert report["renders"] == []
    assert report["tokens"] >= 1
    assert report["sandbox:tokenizer.chat_template"] == "SecurityError"
    assert report["sandbox:tokenizer.chat_template.mro"] == "SecurityError"
    assert report["sandbox:tokenizer.chat_template.range"] == "OverflowError"
    assert not mark.exists()
