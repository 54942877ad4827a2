"""The training / evaluation / measurement harness behind ``experiments/run.py``.

Modules (each small, each one job):

- :mod:`harness.variants`     variant names and aliases -> ``(model name, model options)``
- :mod:`harness.config`       the command line and the default schedules
- :mod:`harness.distributed`  torchrun / DDP set-up (gloo on CPU, nccl on CUDA)
- :mod:`harness.schedule`     SGD + momentum, weight decay, warm-up + cosine learning rate
- :mod:`harness.checkpoint`   atomic checkpoints (temporary file + ``os.replace``), ``weights_only`` loading
- :mod:`harness.splits`       --holdout / --train-fraction: class-stratified parts of train
- :mod:`harness.evaluate`     top-1/top-5, confusion matrix, shift consistency, gate frequencies,
  high/low sweep
- :mod:`harness.measure`      parameters, MACs, images/s (inference, training, pipeline), bytes/image
- :mod:`harness.logs`         CSV log (+ TensorBoard when installed)
- :mod:`harness.results`      the results JSON schema, the printed table, the README table
- :mod:`harness.train`        one run of one variant, end to end
"""
