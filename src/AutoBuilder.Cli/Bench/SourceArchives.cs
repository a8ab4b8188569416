using System.IO.Compression;
using System.Text;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Bench;

/// <summary>The source ZIPs the scenarios upload, generated once per run into the bench's temp folder.</summary>
public static class SourceArchives
{
    /// <summary>A no-op script build: runs `true` and publishes every file of its source (so publishing does real work).</summary>
    public const string NoopConfig = "toolchain: script\ncommand: \"true\"\noutputs:\n  - \"**\"\n";

    /// <summary>
    /// A no-op build's source of about <paramref name="totalBytes"/> in <paramref name="fileCount"/> text files of
    /// source-like, compressible content (≈3:1), 100 files per folder, plus its autobuilder.yml.
    /// </summary>
    public static string CreateNoop(string directory, string name, long totalBytes, int fileCount)
    {
        var path = Path.Combine(directory, name + ".zip");
        if (File.Exists(path))
        {
            return path;
        }

        Directory.CreateDirectory(directory);
        var pool = TextPool(256 * 1024);
        var random = new Random(fileCount);
        var perFile = (int)Math.Max(1, totalBytes / Math.Max(1, fileCount));
        var partial = path + ".partial";
        using (var zip = new ZipArchive(File.Create(partial), ZipArchiveMode.Create))
        {
            WriteEntry(zip, "autobuilder.yml", Encoding.UTF8.GetBytes(NoopConfig));
            for (var i = 0; i < fileCount; i++)
            {
                var start = random.Next(0, pool.Length - perFile);
                WriteEntry(zip, $"src/d{i / 100:D3}/f{i:D5}.txt", pool.AsSpan(start, Math.Min(perFile, pool.Length - start)));
            }
        }

        File.Move(partial, path, overwrite: true);
        return path;
    }

    /// <summary>A ZIP holding one stored (uncompressed) file of <paramref name="bytes"/> random bytes, streamed to disk.</summary>
    public static string CreateLarge(string directory, long bytes)
    {
        var path = Path.Combine(directory, $"large-{bytes >> 20}MiB.zip");
        if (File.Exists(path))
        {
            return path;
        }

        Directory.CreateDirectory(directory);
        var partial = path + ".partial";
        using (var zip = new ZipArchive(File.Create(partial), ZipArchiveMode.Create))
        {
            WriteEntry(zip, "autobuilder.yml", Encoding.UTF8.GetBytes(NoopConfig), CompressionLevel.NoCompression);
            var entry = zip.CreateEntry("data.bin", CompressionLevel.NoCompression);
            using var output = entry.Open();
            var buffer = new byte[1 << 20];
            var random = new Random(42);
            for (long written = 0; written < bytes; written += buffer.Length)
            {
                random.NextBytes(buffer);
                output.Write(buffer, 0, (int)Math.Min(buffer.Length, bytes - written));
            }
        }

        File.Move(partial, path, overwrite: true);
        return path;
    }

    /// <summary>samples/maven-hello packed as `autobuilder build` packs a folder.</summary>
    public static async Task<string> PackSampleAsync(string samplesDirectory, string sample, string directory, CancellationToken cancellationToken)
    {
        var path = Path.Combine(directory, sample + ".zip");
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(directory);
            await SourcePacker.PackAsync(Path.Combine(samplesDirectory, sample), path, cancellationToken);
        }

        return path;
    }

    private static void WriteEntry(ZipArchive zip, string name, ReadOnlySpan<byte> content, CompressionLevel level = CompressionLevel.Fastest)
    {
        var entry = zip.CreateEntry(name, level);
        using var stream = entry.Open();
        stream.Write(content);
    }

    /// <summary>Pseudo-source text: random identifiers and punctuation, compressing about as well as real code.</summary>
    private static byte[] TextPool(int size)
    {
        string[] words = ["public", "static", "void", "return", "final", "class", "int", "String", "import", "new", "if", "else", "for", "while", "{", "}", "(", ")", ";", "=", "+", "\n", "\n    "];
        var random = new Random(7);
        var text = new StringBuilder(size + 64);
        while (text.Length < size)
        {
            if (random.Next(3) == 0)
            {
                text.Append(words[random.Next(words.Length)]);
            }
            else
            {
                for (var i = random.Next(3, 12); i > 0; i--)
                {
                    text.Append((char)('a' + random.Next(26)));
                }
            }

            text.Append(' ');
        }

        return Encoding.ASCII.GetBytes(text.ToString(0, size));
    }
}
