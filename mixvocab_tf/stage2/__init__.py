"""Stage II: the general student (masked-LM / KD `Distiller`, sentence-vector distillation)."""
