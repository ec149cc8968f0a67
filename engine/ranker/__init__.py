"""The family model v2: a ranker that scores the general engine's safe candidates for this
family and this moment.

Its parts (each a module here):

- :mod:`slates`: every logged slate (what was shown, when, to whom, what was chosen) rebuilt
  from the scrubbed interaction log, oldest first, and the time-ordered split;
- :mod:`moment`: what a moment, an audience and an item are made of (words, never names);
- :mod:`learner`: a per-family contextual learner (scikit-learn logistic regression over
  who x weekday/weekend x part of day, crossed with the item's words and topics);
- :mod:`prompts`: the pointwise LoRA scorer's prompt (a shared prefix per moment, one short
  suffix per candidate, " Yes" versus " No");
- :mod:`blend`: a logistic stack over the general engine's score, the learner and the LoRA
  scorer, fitted out of fold on a later validation slice;
- :mod:`metrics`: hit@k, NDCG@k, Wilson and bootstrap intervals;
- :mod:`family_ranker`: the served model (loads a version, ranks candidates, says why).
"""
