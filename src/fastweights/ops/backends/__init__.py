"""Optional fast paths behind ``backend=``: each maps a rule's forms to another library's
kernels and is tested against the torch reference. ``fla``: flash-linear-attention (CUDA)."""
