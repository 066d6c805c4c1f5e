import gc

from storefront import gunicorn


def test_a_worker_freezes_what_it_loaded_so_collections_skip_it():
    gc.unfreeze()
    try:
        gunicorn.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
