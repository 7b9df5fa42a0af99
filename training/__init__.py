"""TextGameGen's training pipeline: corpus -> validate -> fine-tune -> evaluate -> gate -> register.

One module per stage (nanoGPT's layout): ``corpus`` builds the tagged corpus from the
sources in a TOML config, ``validate`` checks it, ``finetune`` trains a model (a LoRA
adapter, or every weight) with the HF Trainer, ``evaluate`` measures perplexity, latency
and samples, ``gate`` and ``register`` decide whether the model reaches the models
directory, and ``pipeline`` runs them all, skipping stages whose inputs have not changed.
``cli`` is the command line.

Nothing here imports textual; torch and transformers are imported only by the stages that
train or evaluate, so ``--help`` and the corpus stage stay fast.
"""

from textgamegen.text.tags import END, TAG_TOKENS, TAGS, tag_token

EOS = END
"""End of a line; also the tokenizer's bos, unk and pad token (alias of the game's ``END``)."""

SPECIAL_TAG_TOKENS = TAG_TOKENS

__all__ = ["EOS", "SPECIAL_TAG_TOKENS", "TAGS", "tag_token"]
