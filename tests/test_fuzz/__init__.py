"""Bad input, fuzzed (issue 7): the profile importer, the context parser, the catalog importer
and the GGUF / adapter loaders.

Every property is the same: the input is accepted, or it is refused with a ``FamtuneError``
whose message names the problem, never a raw ``struct.error``, ``RecursionError``,
``MemoryError`` or the like, and never a hang. From the command line a refusal is exit code 1,
one line on stderr and an unchanged database.

Hypothesis runs with a fixed budget and ``derandomize=True``, so every run (and CI) tries the
same examples. Model files that reach llama.cpp (native code that can abort the process) are
only ever loaded in a subprocess; a probe that dies names the case that killed it.

What the fuzzing found, and what guards against it now:

* llama.cpp 0.3.36 aborts the process (SIGABRT) on headers that parse fine: ``block_count``
  0 or 1000 and up, a NaN or negative ``layer_norm_rms_epsilon``.
  :func:`engine.gguf.checks.check_servable_model` refuses those, any architecture but
  ``gemma3``, and hyperparameters that disagree with the tensors, before llama.cpp sees them.
* JSON nested ~1000 deep (RecursionError) and numbers of 4300+ digits (ValueError) escaped
  ``load_json_text`` raw: ``famtune-engine`` printed "internal error" for such a profile,
  context or activity file. A context ``at`` of year 1 at +14:00 (or 9999 at -14:00) parsed,
  then raised OverflowError when serving converted it to local time. Both are refusals now.
* A GGUF's ``tokenizer.chat_template*`` strings are compiled by llama-cpp-python at load
  (sandboxed Jinja) but famtune never renders them: it builds its own prompts and never calls
  ``create_chat_completion``. A megabyte of template takes ~8 s to compile, so templates are
  bounded and compiled by the checker first; payload templates load and are never rendered.
* A header of nested arrays took ~1.3 us per array to walk (half a minute at the 256 MiB
  header limit); they are now capped.
* The serving path hands llama.cpp an adapter only once its sha256 matches the one its
  version's manifest recorded (tests/test_model_integrity.py), so metadata flips the
  adapter's own tensor digest cannot see (alpha, the digest's key name) are refused too.

One module per suite (test_fuzz_profiles, _context, _catalog, _gguf_headers, _gguf_files,
_base_model, _chat_templates, _adapter_flips); what they share is in strategies.py (the
budget, broken JSON, the refusal checks) and gguf.py (GGUF strategies, the checker, the
subprocess probe); ``base_file`` is in conftest.py.
"""
