"""README.md beside every Hugging Face export: what was trained, on what, for how long, and how
well (the run's own numbers), so an exported directory explains itself on the hub or on disk."""
import os

from mlm_jax import lineage, metrics


def _data_line(d) -> str:
  if d.task == 'builtin_docs':
    return 'the built-in corpus (documentation text shipped with CPython)'
  if d.task == 'files':
    return f'`{d.train_files}` ({d.format})'
  if d.task == 'tfds':
    return f'TFDS `{d.tfds_name}`'
  if d.task == 'mixture':
    return f'the mixture `{d.mixture}`'
  if d.task == 'prepared':
    return f'the prepared corpus `{d.prepared_dir}`'
  return f'data.task={d.task}'


def _last(records: list[dict], split: str, step: int) -> dict:
  rows = [r for r in records if r['split'] == split and r['step'] <= step]
  return max(rows, key=lambda r: r['step']) if rows else {}


def _numbers(record: dict) -> str:
  keys = [k for k in sorted(record) if k not in ('step', 'split')
          and isinstance(record[k], (int, float))]
  return ', '.join(f'{k} {record[k]:.4g}' for k in keys)


def text(config, workdir: str, step: int) -> str:
  m, t, d = config.model, config.train, config.data
  finetuned = 'finetune' in config and bool(config.finetune.task)
  tags = ['mlm_jax', 'jax', config.objective.name] + (
      ['text-classification'] if finetuned else ['fill-mask'])
  lines = ['---', 'library_name: transformers', 'tags:'] + [f'- {x}' for x in tags] + [
      f'pipeline_tag: {"text-classification" if finetuned else "fill-mask"}', '---', '',
      f'# {os.path.basename(os.path.normpath(workdir))}', '',
      f'Trained with mlm_jax and exported at step {step} of {t.steps}.', '',
      '| | |', '|---|---|',
      f'| model | {m.name}: {m.num_layers} layers, hidden {m.hidden_size}, {m.num_heads} heads, '
      f'MLP {m.mlp_dim}, vocabulary {m.vocab_size} |',
      f'| objective | {config.objective.name}, masking {config.objective.masking}, rate '
      f'{config.objective.mask_rate} |',
      f'| training data | {_data_line(d)}, rows of {d.seq_len} tokens |',
      f'| vocabulary | {d.vocab_path or f"SentencePiece, {d.vocab_size} pieces, trained on the data"} |',
      f'| schedule | {step} steps x batch {t.batch_size}, peak learning rate {t.learning_rate}, '
      f'{t.warmup_steps} warmup steps |']
  if finetuned:
    lines.append(f'| task | {config.finetune.task} |')
  ancestors = lineage.read(workdir)
  if len(ancestors) > 1:
    lines.append(f'| continued from | {len(ancestors) - 1} earlier run(s) (lineage.json) |')
  records = metrics.read_records(workdir)
  for split in ('eval', 'train'):
    last = _last(records, split, step)
    if last:
      lines.append(f'| last {split} numbers (step {last["step"]}) | {_numbers(last)} |')
  lines += ['', 'Load it with `transformers.AutoModel.from_pretrained(this_directory)`; the '
            "tokenizer files beside it are the run's own vocabulary.", '']
  return '\n'.join(lines)


def write(config, workdir: str, out: str, step: int) -> None:
  with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8') as f:
    f.write(text(config, workdir, step))
