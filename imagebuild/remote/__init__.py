"""The remote cache: results shared through object storage, so a team never pays twice.

Two levels, as Bazel's remote cache: an action record per fingerprint
(``ac/<fp[:2]>/<fp>.json``: which outputs, their sha256 and sizes, seed,
provider ids, cost) and content-addressed objects (``cas/<sha[:2]>/<sha>``).
Objects go up before their record, and records are created, never
overwritten: the first writer wins. Create-only lease files
(``leases/<fp>/<n>.json``) keep two machines from buying the same image.

    settings   the manifest's ``cache`` block and IMAGEBUILD_REMOTE, checked (no fsspec)
    errors     RemoteError; messages scrubbed of credentials
    store      the layout and batched, bounded, create-only I/O over an fsspec filesystem
    records    a record's bytes: version and fingerprint added, checked on the way back
    fetch      downloads re-hashed into the local cache
    lease      claims, take-overs, the holder's heartbeat
    pushlog    what was queued and what went up, so a crashed build pushes next time
    push       the background push queue
    client     RemoteCache: the facade the commands call, and the failure policy

This top level imports nothing: the manifest reads ``settings`` on every
``validate`` and ``plan``, and fsspec is imported only once a remote is opened.
"""
