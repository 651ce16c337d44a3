/* nodesc.c - a shared object that is not a gearbox plugin: it exports a
 * function but no gbx_plugin_descriptor. */
__attribute__((visibility("default"))) int nodesc_answer(void);

int nodesc_answer(void)
{
	return 42;
}
