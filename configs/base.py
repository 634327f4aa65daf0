"""Every config key, declared once with its default and a one-line comment.

Experiment configs start from `get_base_config()` and change values only; configs are
returned locked, so a key that is not declared here is an error.
"""
import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0  # seeds parameter init, data shuffling, masking and dropout

  c.model = m = ml_collections.ConfigDict()
  m.name = 'bert'  # key into mlm_jax.models.MODELS
  m.vocab_size = 30522  # rows of the token embedding; must cover the data vocabulary
  m.hidden_size = 768  # width of the residual stream
  m.num_layers = 12  # transformer blocks
  m.num_heads = 12  # attention heads; must divide hidden_size
  m.mlp_dim = 3072  # hidden width of the feed-forward block
  m.max_positions = 512  # rows of the learned position embedding
  m.type_vocab_size = 2  # token-type (segment A/B) embeddings; 0 disables them
  m.dropout_rate = 0.1  # dropout on embeddings, attention output and MLP output
  m.attention_dropout_rate = 0.1  # dropout on attention probabilities
  m.layer_norm_eps = 1e-12  # LayerNorm epsilon (BERT uses 1e-12)
  m.pre_layer_norm = False  # False: post-LN as in BERT; True: pre-LN with a final LayerNorm
  m.first_attention_norm = True  # pre-LN: norm the first layer's input (ModernBERT: False, embeddings are normed)
  m.initializer_range = 0.02  # stddev of the truncated-normal weight init
  m.dtype = 'float32'  # compute dtype: float32 or bfloat16 (parameters stay float32)
  m.scan_layers = False  # nn.scan over layers: compile time independent of depth
  m.remat_policy = 'none'  # none | full | dots: what the backward pass recomputes
  m.attention_impl = 'xla'  # xla (explicit softmax) | cudnn (fused, GPU, no attention dropout)
  m.mlp_kind = 'gelu'  # gelu (BERT) | geglu | swiglu (gated; mlp_dim is the gated width)
  m.position_scheme = 'learned'  # learned (table) | rotary (RoPE on q, k) | alibi | none
  m.rotary_base = 10000.0  # rotary: base of the RoPE frequencies (ModernBERT global layers: 160000)
  m.local_rotary_base = 0.0  # rotary + sliding_window: the local layers' base; 0 = rotary_base (ModernBERT: 10000)
  # bidirectional (whole segment) | causal | prefix (bidirectional prefix, causal after) |
  # sliding_window (keys within attention_window // 2 of the query); never across segments
  m.attention_pattern = 'bidirectional'
  m.attention_window = 128  # sliding_window: total window, half on each side (ModernBERT: 128)
  m.global_attention_every = 0  # k > 0: layers 0, k, 2k, ... attend bidirectionally (ModernBERT: 3)
  m.bidirectional_layers = ''  # layers without the causal/prefix/local mask: '-2,-1' = the top two
  m.use_bias = True  # biases in attention, MLP and norms; False: none (ModernBERT)
  m.head_transform_bias = True  # a bias in the MLM head's dense transform (ModernBERT: False)
  m.norm_kind = 'layernorm'  # layernorm | rmsnorm (no bias)
  m.embedding_size = 0  # electra: width of the (shared) embeddings, projected to hidden; 0 = hidden_size
  m.generator_size_fraction = 0.25  # electra: generator width, heads and MLP as a fraction of the discriminator's
  m.embedding_sharing = 'tied'  # electra: tied (one table, both losses) | gdes (disc uses sg(E) + delta, DeBERTa-v3)
  m.mlm_decoder_layers = 0  # bert: pre-training-only blocks before the MLM head (DrBERT/BPDec: 2)
  m.mlm_decoder_unmask_fraction = 0.5  # mlm decoder: predicted keys visible in its first block
  m.mlm_decoder_encoder_mix = 0.1  # mlm decoder: head input is the encoder's, this often (train)
  m.ngram_vocab_size = 0  # ernie_gram: rows of the n-gram lexicon head (>= the lexicon's size)
  m.ngram_max_len = 3  # ernie_gram: query vectors [M_1..M_N] (>= the lexicon's longest n-gram)
  m.sltrain_rank = 0  # SLTrain: block matrices as (alpha/r) B A + fixed-support sparse S; 0: dense
  m.sltrain_density = 0.03  # SLTrain: S's share of non-zeros
  m.sltrain_alpha = 32.0  # SLTrain: the low-rank product's scale alpha (divided by the rank)

  c.objective = o = ml_collections.ConfigDict()
  o.name = 'mlm'  # key into mlm_jax.objectives.OBJECTIVES
  o.mask_rate = 0.15  # fraction of candidate tokens chosen for prediction
  o.max_predictions = 0  # static prediction slots per row; 0: what a full row needs at mask_rate
  o.mask_token_fraction = 0.8  # chosen tokens replaced by [MASK]
  o.random_token_fraction = 0.1  # chosen tokens replaced by a random token; the rest kept
  o.whole_word = False  # choose whole words (all pieces of a word together)
  # tokens (BERT: random tokens, or words with whole_word) | spans (SpanBERT) | tagged (units of
  # data.tagger first, then random tokens: time-aware / entity masking)
  o.masking = 'tokens'
  o.span_p = 0.2  # spans: span length in words ~ Geo(span_p) (SpanBERT: 0.2, mean 3.8 words)
  o.span_max_words = 10  # spans: span lengths clipped at this many words (SpanBERT: 10)
  o.tag_rate = 0.3  # tagged: share of a row's tagged units masked whole (BiTimeBERT: 0.3)
  o.crts_cluster_map = ''  # crts: token -> cluster file, one id per line (tools/build_cluster_map.py)
  o.crts_clusters = 0  # crts: clusters in that map (its largest id + 1; sizes the count matrix)
  o.crts_beta = 2.0  # crts: inverse temperature of the substitute cluster's softmax (the authors')
  o.crts_cluster_bits = 6  # crts_simhash: substitutes from the original's bucket of 2^bits
  o.disc_weight = 50.0  # electra/mcl: loss = generator MLM + disc_weight x discriminator loss
  o.causal_fraction = 0.0625  # gpt_bert: share of rows trained causally (GPT-BERT: 1 in 16)
  o.se_threshold = 0.1  # self_evolution: a token is hard when its own-id loss exceeds this (nats)
  o.se_smoothing = 0.1  # self_evolution: target = (1 - a) one-hot + a x the model's own prediction
  o.ngram_lexicon = ''  # ernie_gram: .npz from tools/build_ngram_lexicon.py (T-test n-grams)
  o.mcl_courses = 'rtd,std,itd,gc,dc'  # mcl: comma-separated courses to train (one alone for course soups)
  o.teacher_workdir = ''  # minilm/self_distill/salt: the frozen teacher, an mlm_jax workdir (latest checkpoint)
  o.teacher_hf_dir = ''  # minilm: or a local Hugging Face directory (BERT, RoBERTa, ELECTRA, ModernBERT)
  o.minilm_teacher_layer = -1  # minilm: the teacher layer whose self-attention is transferred (-1: last)
  o.minilm_student_layer = -1  # minilm: the student layer that learns it (-1: last)
  o.kd_steps = 0  # salt: training batches with the small teacher's soft labels (stage 1)
  o.kd_weight = 0.5  # salt: weight of the distillation term in stage 1 (1 - it: the true token)
  o.kd_temperature = 1.0  # salt: softmax temperature of teacher and student in the KD term
  o.kd_transition = 'step'  # salt: step (stage 2 at once) | linear (the weight decays over stage 1)
  o.kd_select_fraction = 1.0  # salt: SALT_DS, share of each stage-1 batch's rows trained (1: all)
  o.kd_select_topk = 10  # salt: SALT_DS, a masked token is learnable if in the teacher's top k
  o.self_distill_weight = 1.0  # self_distill: weight of the first-token hidden-state distance (authors: 1)

  c.data = d = ml_collections.ConfigDict()
  # builtin_docs (text shipped with CPython) | files | tfds | mixture | prepared
  d.task = 'builtin_docs'
  d.format = 'lines'  # files: lines | blocks | wikiextractor | jsonl | tfrecord (.gz read as gzip)
  d.train_files = ''  # files: comma-separated globs (local or gs://)
  d.validation_files = ''  # files: comma-separated globs; empty: hold out from train_files
  d.text_field = 'text'  # jsonl / tfrecord / tfds: the feature holding the document text
  d.tfds_name = ''  # tfds: NAME[/CONFIG]:VERSION, e.g. c4/en:3.0.1 or wikipedia/20230601.en:1.0.0
  d.tfds_data_dir = ''  # tfds: local or gs:// data_dir (never downloaded at run time)
  # mixture: 'KIND:GLOBS@RATE; ...' where KIND is a format or tfds, e.g.
  # 'wikiextractor:/data/wiki/*/wiki_*@0.8; jsonl:/data/domain/*.jsonl@0.2'
  d.mixture = ''
  d.holdout_every = 100  # sources without validation split: 1 in N documents (by text hash)
  d.min_doc_words = 0  # documents with fewer words are skipped (Wikipedia stubs: use 20)
  d.packing = 'fill'  # fill (documents flow across rows) | greedy (seqio) | pad (one chunk/row)
  d.prepared_dir = ''  # prepared: output directory of tools/prepare_corpus.py
  # time | entities: a rule-based tagger in the input pipeline marks units (temporal
  # expressions, named entities) that objective.masking=tagged masks first (data/taggers.py)
  d.tagger = ''
  d.seq_len = 128  # tokens per packed row
  # SentencePiece .model | WordPiece vocab.txt | tokenizer directory | byte | empty: train a
  # SentencePiece model on the corpus, cached in the workdir
  d.vocab_path = ''
  d.vocab_size = 8000  # size of the SentencePiece vocabulary trained when vocab_path is empty
  d.shuffle_buffer = 10_000  # packed rows in the shuffle buffer
  d.tf_threads = 1  # TensorFlow inter/intra-op threads for the input pipeline
  # documents: each host reads a disjoint shard of the documents (pod-scale reading);
  # rows: every host reads the whole stream and keeps its rows of each global batch, so the
  # batches do not depend on the number of hosts (bitwise-reproducible across host counts).
  d.host_sharding = 'documents'
  # Document filters of the training split (mlm_jax/data/filters.py; counts: tools/data_filters.py)
  d.filter = fl = ml_collections.ConfigDict()
  fl.subset_fraction = 1.0  # keep this hash-chosen fraction of the documents (stability gap)
  fl.date_field = ''  # jsonl/tfrecord/tfds field holding each document's date ('2019-05-01')
  fl.min_year = 0  # age filter: keep documents dated in [min_year, max_year]; 0: no bound
  fl.max_year = 0  # age filter's upper bound; 0: none
  fl.domain_field = ''  # field holding a domain name or a URL (its host is the domain)
  fl.domains = ''  # comma-separated domains to keep (suffix match); empty: all
  fl.exclude_domains = ''  # comma-separated domains to drop
  fl.quality_model = ''  # tools/train_doc_classifier.py model: keep documents scoring >= threshold
  fl.quality_threshold = 0.5  # P(reference-like) a kept document reaches
  fl.quality_inverse = False  # drop the documents scoring >= threshold instead (the guide's control)
  fl.toxicity_model = ''  # a toxicity model: drop documents scoring >= threshold
  fl.toxicity_threshold = 0.5  # P(toxic) at which a document is dropped
  fl.toxicity_inverse = False  # drop the documents scoring < threshold instead (the least toxic)

  c.train = t = ml_collections.ConfigDict()
  t.steps = 1000  # optimizer steps
  t.batch_size = 32  # global batch (rows), summed over all hosts
  t.micro_batches = 1  # gradient accumulation: micro-batches per step
  t.learning_rate = 1e-4  # peak learning rate
  t.warmup_steps = 100  # linear warmup from 0
  t.decay = 'linear'  # linear | cosine | constant, after warmup
  t.end_lr_fraction = 0.0  # final learning rate as a fraction of the peak
  t.optimizer = 'adamw'  # adamw | lamb
  t.adam_b1 = 0.9  # first-moment decay
  t.adam_b2 = 0.999  # second-moment decay
  t.adam_eps = 1e-6  # Adam epsilon
  t.weight_decay = 0.01  # decoupled weight decay (not on biases or LayerNorm)
  t.grad_clip_norm = 1.0  # global-norm clipping; 0 disables
  t.stop_at_step = 0  # leave after this step with a checkpoint (time-sliced jobs); 0: never
  t.nonfinite_policy = 'skip'  # NaN/Inf loss or gradient: skip the update (skip) or stop (stop)
  # Sparse pre-training (mlm_jax/pruning.py, "The Journey Matters"): attention and MLP matrices
  # pruned by magnitude on a cubic ramp.
  t.prune_sparsity = 0.0  # final zero fraction of each prunable matrix; 0: dense
  t.prune_start = 0.25  # the ramp starts at this fraction of train.steps
  t.prune_end = 0.75  # and reaches prune_sparsity here
  t.prune_every = 100  # steps between magnitude re-selections inside the ramp
  # LT-SFT's sparse phase (mlm_jax/sparse_ft.py, tools/lt_sft.py): a mask file; only its
  # entries change. Empty: every parameter trains.
  t.update_mask = ''
  t.log_every_steps = 50  # steps between train metric records
  t.peak_flops = 0.0  # per-device peak FLOP/s for MFU; 0 measures a matmul at start
  t.wandb_project = ''  # Weights & Biases project for the metrics too (pip install wandb)
  t.remote_flush_seconds = 30.0  # gs:// workdir: metrics and TensorBoard uploaded this often
  # Compiled steps kept on disk (mlm_jax/compile_cache.py), so a resumed run skips compiling:
  # 'auto' is $JAX_COMPILATION_CACHE_DIR if set, else WORKDIR/compilation_cache; '' turns it off;
  # anything else is the directory (gs:// too).
  t.compilation_cache = 'auto'
  # XLA:CPU's step order: concurrency (XLA's default) | memory (fewer live temporaries:
  # BERT-base -12% memory at equal speed, small models 2-11% slower; mlm_jax/cpu_schedule.py)
  t.cpu_schedule = 'concurrency'

  c.eval = e = ml_collections.ConfigDict()
  e.every_steps = 500  # steps between evaluations (0: only at the end)
  e.steps = 0  # eval batches per evaluation; 0 runs the whole validation split
  e.batch_size = 32  # global eval batch (rows)
  # Denser evaluation early on (the stability gap's dip shows in the first steps of continued
  # pre-training): at step 0, every early_every_steps up to early_until_step, then every_steps.
  e.early_every_steps = 0  # 0: no early phase
  e.early_until_step = 0  # last step of the early phase
  # More held-out sets, each reported under its name ('general/mlm_accuracy'):
  # 'NAME=KIND:GLOBS; ...', KIND a data.format; their held-out bucket (data.holdout_every).
  e.extra_sets = ''

  c.checkpoint = k = ml_collections.ConfigDict()
  k.every_steps = 500  # steps between checkpoints (the final step is always saved)
  k.keep = 3  # checkpoints kept on disk

  c.init_from = ml_collections.ConfigDict()
  # A local Hugging Face checkpoint (BERT, RoBERTa, ELECTRA) to start from: its architecture,
  # weights and tokenizer replace the config's. Ignored when WORKDIR has a checkpoint to resume.
  c.init_from.hf_dir = ''
  # An mlm_jax pre-training workdir: with finetune.task set, the encoder to fine-tune (BERT, ELECTRA
  # discriminator, token detector); without, continued pre-training from its architecture,
  # vocabulary and latest weights (mlm_jax/init_from.py), fresh optimizer.
  c.init_from.workdir = ''
  # False: init_from gives the architecture and vocabulary only, weights are random: the
  # control run that shows what pre-training bought.
  c.init_from.weights = True  # load init_from's weights (False: same model, random weights)

  # Fine-tuning and evaluation (mlm_jax/finetune/); main.py runs it when finetune.task is set.
  c.finetune = f = ml_collections.ConfigDict()
  f.task = ''  # '' pre-trains; a GLUE task (cola sst2 mrpc qqp stsb mnli qnli rte wnli) or squad
  f.method = 'head'  # head (task head on [CLS] / spans) | generative (MLM head at a [MASK] slot)
  f.data_dir = ''  # GLUE: the download_glue_data.py root (or TFDS data_dir); SQuAD: unused
  f.format = 'tsv'  # GLUE: tsv (original layout) | tfds (glue/<task> prepared under data_dir)
  f.train_file = ''  # a train file replacing data_dir's (GLUE .tsv, SQuAD .json[.gz])
  f.dev_file = ''  # a dev file replacing data_dir's (the file scored at each evaluation)
  f.squad_version = '1.1'  # 1.1 | 2.0 (unanswerable questions, no-answer threshold search)
  f.max_seq_len = 128  # tokens per example ([CLS] a [SEP] b [SEP]); pairs truncate longest first
  f.doc_stride = 128  # SQuAD: tokens between the starts of consecutive context windows
  f.max_query_len = 64  # SQuAD: question tokens kept
  f.n_best = 20  # SQuAD: start and end candidates per window in span decoding
  f.max_answer_len = 30  # SQuAD: longest answer span, in tokens
  f.head_dropout = 0.1  # dropout in the classification head
  f.head_activation = 'tanh'  # tanh (BERT pooler) | gelu (ELECTRA classification head)
  f.layerwise_lr_decay = 1.0  # ELECTRA: layer l of L gets lr x decay^(L - l); 1 disables
  f.epochs = 3.0  # passes over the training set (when finetune.steps is 0)
  f.steps = 0  # optimizer steps; 0: epochs x examples / train.batch_size
  f.warmup_fraction = 0.1  # linear warmup over this fraction of the steps
  f.train_examples = 0  # train on a fixed random subset (seed 0, whatever the run's seed); 0: all
  f.eval_examples = 0  # evaluate on the first N dev examples (quick checks); 0: all
  f.template = '{a} It was [MASK].'  # generative: input text; {a} {b} the sentences
  f.verbalizer = 'terrible,great'  # generative: one single-token word per label, in label order
  f.zero_shot = False  # generative: evaluate the pre-trained MLM head without training
  # Pre-trained distillation (Well-Read Students): a fine-tuned workdir of the same task whose
  # predictions on the training text replace its labels (finetune/distill.py); '' : labels.
  f.distill_from = ''
  f.distill_temperature = 1.0  # distill_from: softmax temperature of teacher and student
  f.init_token_type_1_from_0 = True  # pre-training never trains type 1: start it as type 0
  # A source pre-trained without positions (model.position_scheme=none, e.g. position
  # prediction): fine-tune with a fresh learned position table (MP3 adds them back)
  f.add_position_embeddings = False

  c.mesh = ml_collections.ConfigDict()
  c.mesh.data = -1  # data-parallel axis size; -1: all devices left over
  c.mesh.fsdp = 1  # parameter/optimizer-state sharding axis size
  c.mesh.tensor = 1  # tensor-parallel axis size (heads, MLP, vocabulary)
  # Split across slices (TPU multislice) or nodes (GPU), over the slower DCN network: the
  # mesh is (data, fsdp, tensor) within a slice times (dcn_data, dcn_fsdp, 1) across slices.
  c.mesh.dcn_data = 1  # data-parallel replicas across slices/nodes
  c.mesh.dcn_fsdp = 1  # FSDP sharding across slices/nodes
  # Logical axis -> mesh axes. Model code names logical axes only.
  c.mesh.rules = (
      ('batch', ('data', 'fsdp')),
      ('embed', 'fsdp'),
      ('mlp', 'tensor'),
      ('heads', 'tensor'),
      ('kv', None),
      ('vocab', 'tensor'),
      ('length', None),
      ('act_embed', None),
      ('layers', None),
  )
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  c = get_base_config()
  c.lock()
  return c
