<?php
/**
 * Reference renderer for the parity test: renders every case directory under $argv[1] with
 * Debian's php-twig (3.5), configured as the OS2forms module's Drupal environment is
 * (strict variables, 'html' auto-escaping, Europe/Copenhagen; a case's options.json may change
 * `autoescape`, `strict_variables` and `timezone`), with the module's four Twig
 * extensions re-stated below. Prints one JSON object: case => {"ok": output} | {"error": msg}.
 *
 * PHP warnings and notices (e.g. "Array to string conversion") are turned into errors, so a
 * template that only "works" with a warning counts as failing on both sides.
 */

require '/usr/share/php/Twig/autoload.php';

date_default_timezone_set('Europe/Copenhagen');

set_error_handler(static function (int $severity, string $message, string $file = '', int $line = 0): bool {
    if (!(error_reporting() & $severity)) {
        return false;
    }
    if ($severity & (E_DEPRECATED | E_USER_DEPRECATED)) {
        return true;
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});

final class Os2formsParityExtension extends \Twig\Extension\AbstractExtension
{
    public function getFunctions(): array
    {
        return [
            new \Twig\TwigFunction('os2forms_fordelingskomponent_intval', intval(...)),
            new \Twig\TwigFunction(
                'os2forms_fordelingskomponent_floatval',
                static function (string $argument, ?string $langcode = null): float {
                    // 'da': '.' groups thousands and ',' is the decimal point; otherwise ','
                    // groups thousands.
                    $map = 'da' === $langcode ? ['.' => '', ',' => '.'] : [',' => ''];
                    return floatval(str_replace(array_keys($map), array_values($map), $argument));
                }
            ),
            new \Twig\TwigFunction('os2forms_fordelingskomponent_gettype', gettype(...)),
        ];
    }

    public function getFilters(): array
    {
        return [
            new \Twig\TwigFilter(
                'os2forms_fordelingskomponent_xml_encode',
                static function (array $value, string $numeric_key_prefix = 'key_'): string {
                    $add = static function (\SimpleXMLElement $parent, array $data) use (&$add, $numeric_key_prefix): void {
                        foreach ($data as $key => $item) {
                            $name = is_numeric($key) ? $numeric_key_prefix . $key : $key;
                            $child = $parent->addChild($name, is_array($item) ? null : htmlspecialchars((string) $item));
                            if (is_array($item)) {
                                $add($child, $item);
                            }
                        }
                    };
                    $root = new \SimpleXMLElement('<?xml version="1.0" encoding="UTF-8"?><root/>');
                    $add($root, $value);
                    $xml = '';
                    foreach ($root->xpath('/root/*') as $node) {
                        $xml .= $node->asXML();
                    }
                    return $xml;
                },
                ['is_safe' => ['html']]
            ),
        ];
    }
}

$dir = $argv[1] ?? null;
if (null === $dir || !is_dir($dir)) {
    fwrite(STDERR, "usage: php render.php <corpus-dir>\n");
    exit(2);
}

$results = [];
$cases = array_values(array_filter(scandir($dir), static fn ($d) => '.' !== $d[0] && is_dir("$dir/$d")));
sort($cases);
foreach ($cases as $case) {
    $path = "$dir/$case";
    $source = file_get_contents("$path/template.twig");
    $context = is_file("$path/context.json") ? json_decode(file_get_contents("$path/context.json"), true, 512, JSON_THROW_ON_ERROR) : [];
    $options = is_file("$path/options.json") ? json_decode(file_get_contents("$path/options.json"), true, 512, JSON_THROW_ON_ERROR) : [];
    try {
        $twig = new \Twig\Environment(new \Twig\Loader\ArrayLoader([]), [
            'strict_variables' => $options['strict_variables'] ?? true,
            'autoescape' => $options['autoescape'] ?? 'html',
            'cache' => false,
        ]);
        $twig->addExtension(new Os2formsParityExtension());
        $twig->getExtension(\Twig\Extension\CoreExtension::class)->setTimezone($options['timezone'] ?? 'Europe/Copenhagen');
        // Named by the case: PHP Twig names a compiled class by the source and the options
        // hash, which leaves out `autoescape`, so two cases with the same template and
        // different options would otherwise share the first one's compiled class.
        $template = $twig->createTemplate($source, $case);
        $results[$case] = ['ok' => $template->render($context ?? [])];
    } catch (\Throwable $e) {
        $results[$case] = ['error' => get_class($e) . ': ' . $e->getMessage()];
    }
}

echo json_encode($results, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRETTY_PRINT), "\n";
