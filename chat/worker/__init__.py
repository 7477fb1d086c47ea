"""The sync-queue worker (Celery): the tasks and the store-then-route pipeline. Imported only by
Celery (`chatproject.celery` discovers `chat.worker.tasks`)."""
