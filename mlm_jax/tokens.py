"""Special-token ids: what the data path hands the objectives (a plain record, no imports, so
data/ and objectives/ share it without depending on each other)."""
import dataclasses

NO_MASK = -1  # SpecialTokens.mask of a vocabulary that has no [MASK] token


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
  """Ids the objective must know. `special` are never chosen and never sampled as noise.

  mask is NO_MASK for a vocabulary without [MASK] (a GPT-style one): fine for objectives that
  never write it (Objective.uses_mask_token False); the others are refused at start-up."""
  pad: int
  mask: int
  cls: int
  sep: int
  special: tuple[int, ...]
  vocab_size: int

  @property
  def has_mask(self) -> bool:
    return self.mask != NO_MASK
