"""What the checkpointer and store back ends share: the URL-scheme registry
(``backends.registry``) and the one sans-I/O driver (``backends.sansio``)."""
