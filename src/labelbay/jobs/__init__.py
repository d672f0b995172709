"""Jobs: a model run over many images, split into tasks, executed in process or by Celery workers."""
