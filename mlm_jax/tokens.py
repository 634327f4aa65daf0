"""Special-token ids: what the data path hands the objectives (a plain record, no imports, so
data/ and objectives/ share it without depending on each other)."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
  """Ids the objective must know. `special` are never chosen and never sampled as noise."""
  pad: int
  mask: int
  cls: int
  sep: int
  special: tuple[int, ...]
  vocab_size: int
