using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using AutoBuilder.Cli.Client;
using AutoBuilder.Core;
using AutoBuilder.Core.Api;
using AutoBuilder.Core.Builds;
using Spectre.Console;

namespace AutoBuilder.Cli.Commands;

/// <summary><c>autobuilder build PATH</c>: pack, upload and build in one call, follow the log, show the outcome, download.</summary>
internal static class BuildCommand
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    public static Command Create(ClientConsole console)
    {
        var common = new CommonOptions();
        var path = new Argument<string>("PATH") { Description = "Project folder (zipped without .git, target, build, node_modules, .gradle, .autobuilder, autobuilder-out; symlinks are skipped) or a .zip uploaded as is" };
        var project = new Option<string?>("--project", "-p") { Description = "Project id [default: the folder's or zip's name, lower-cased, other characters replaced by '-']", HelpName = "ID" };
        var output = new Option<string?>("--out", "-o") { Description = "Where to download result.zip and artifacts [default ./autobuilder-out/{project}/{number}]", HelpName = "DIR" };
        var toolchain = new Option<string?>("--toolchain") { Description = "Toolchain (maven, gradle, npm, dotnet, script) [default: autobuilder.yml, else detected]", HelpName = "T" };
        var buildCommand = new Option<string?>("--command") { Description = "Build command [default: autobuilder.yml's, else the toolchain's]", HelpName = "CMD" };
        var noFollow = new Option<bool>("--no-follow") { Description = "Start the build, print its id and exit (0) without waiting" };
        var noDownload = new Option<bool>("--no-download") { Description = "Do not download result.zip and artifacts" };
        var raw = ClientCommands.RawOption();

        var command = new Command(
            "build",
            "Upload a folder or .zip, build it, follow the log and download the result. " +
            "Exit code 0 when the build succeeded, 1 when it failed, timed out or was cancelled, 2 on usage, API or connection errors, 130 after Ctrl+C.");
        command.Arguments.Add(path);
        command.Options.Add(project);
        command.Options.Add(output);
        command.Options.Add(toolchain);
        command.Options.Add(buildCommand);
        command.Options.Add(noFollow);
        command.Options.Add(noDownload);
        command.Options.Add(raw);
        common.AddTo(command);

        command.SetAction(async (parseResult, ct) =>
        {
            var options = new BuildOptions(
                parseResult.GetRequiredValue(path),
                parseResult.GetValue(project),
                parseResult.GetValue(output),
                parseResult.GetValue(toolchain),
                parseResult.GetValue(buildCommand),
                Follow: !parseResult.GetValue(noFollow),
                Download: !parseResult.GetValue(noDownload),
                Raw: parseResult.GetValue(raw));

            if (!TryResolveSource(console, options, out var source, out var projectId))
            {
                return ExitCodes.Error;
            }

            return await CommandRunner.RunAsync(console, common, parseResult, client => RunAsync(console, client, options, source, projectId, ct), ct);
        });
        return command;
    }

    private sealed record BuildOptions(string Path, string? Project, string? Output, string? Toolchain, string? Command, bool Follow, bool Download, bool Raw);

    private static bool TryResolveSource(ClientConsole console, BuildOptions options, out string source, out string projectId)
    {
        source = System.IO.Path.GetFullPath(options.Path);
        projectId = "";
        var isZip = File.Exists(source) && source.EndsWith(".zip", StringComparison.OrdinalIgnoreCase);
        if (!isZip && !Directory.Exists(source))
        {
            console.WriteError($"{options.Path} is neither a folder nor a .zip file.");
            return false;
        }

        if (options.Project is not null)
        {
            if (!Ids.IsValidProjectId(options.Project))
            {
                console.WriteError($"--project '{options.Project}' is not a valid project id ({ProjectIds.Rule}).");
                return false;
            }

            projectId = options.Project;
            return true;
        }

        var derived = ProjectIds.TryDerive(source);
        if (derived is null)
        {
            console.WriteError($"Cannot derive a project id from '{System.IO.Path.GetFileName(source)}'; pass --project ID ({ProjectIds.Rule}).");
            return false;
        }

        projectId = derived;
        return true;
    }

    private static async Task<int> RunAsync(ClientConsole console, AutoBuilderClient client, BuildOptions options, string source, string projectId, CancellationToken cancellationToken)
    {
        await client.PutProjectAsync(projectId, cancellationToken);

        BuildDto build;
        string? tempZip = null;
        try
        {
            var zipPath = source;
            if (Directory.Exists(source))
            {
                tempZip = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"autobuilder-{Ids.NewId()}.zip");
                var packed = await SourcePacker.PackAsync(source, tempZip, cancellationToken);
                foreach (var link in packed.SkippedLinks)
                {
                    console.WriteWarning($"skipped symbolic link {link} (links are not uploaded).");
                }

                console.Out.MarkupLineInterpolated(
                    $"Packed {packed.FileCount} files ({BuildView.FormatBytes(packed.SourceBytes)}) into {BuildView.FormatBytes(packed.ZipBytes)}.");
                zipPath = tempZip;
            }

            build = await UploadAsync(console, client, projectId, zipPath, options, cancellationToken);
        }
        finally
        {
            if (tempZip is not null)
            {
                File.Delete(tempZip);
            }
        }

        console.Out.MarkupLineInterpolated($"Build [bold]{build.Id}[/] (#{build.Number}) of project {projectId} is {build.Status.ToWire()}.");
        if (!options.Follow)
        {
            return ExitCodes.Success;
        }

        if (!await ClientCommands.FollowLogAsync(console, client, build.Id, follow: true, options.Raw, cancellationToken))
        {
            return ExitCodes.Interrupted;
        }

        build = await client.GetBuildAsync(build.Id, cancellationToken);
        if (!build.Status.IsTerminal())
        {
            // The log stream ended before the build did (e.g. a proxy cut it): wait for the outcome.
            console.Error.MarkupLineInterpolated($"[grey]The log stream ended while the build is {build.Status.ToWire()}; waiting for it to finish.[/]");
            try
            {
                while (!build.Status.IsTerminal())
                {
                    await Task.Delay(PollInterval, cancellationToken);
                    build = await client.GetBuildAsync(build.Id, cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                console.WriteWarning($"stopped waiting; build {build.Id} keeps running on the server (`autobuilder status {build.Id}`).");
                return ExitCodes.Interrupted;
            }
        }

        console.Out.WriteLine();
        BuildView.WriteBuild(console.Out, build);

        if (build.Status == BuildStatus.Succeeded && options.Download)
        {
            await ResultDownloader.DownloadAsync(client, console, build, options.Output ?? ResultDownloader.DefaultOutputFolder(build), cancellationToken);
        }

        return BuildView.ExitCodeOf(build.Status);
    }

    private static async Task<BuildDto> UploadAsync(ClientConsole console, AutoBuilderClient client, string projectId, string zipPath, BuildOptions options, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(zipPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        var length = file.Length;

        if (console.Interactive)
        {
            return await console.Out.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask($"Uploading to {Markup.Escape(client.Server.Authority)}", maxValue: Math.Max(length, 1));
                    await using var progress = new ProgressStream(file, bytes => task.Value = bytes, leaveOpen: true);
                    var started = await client.UploadAndBuildAsync(projectId, progress, options.Toolchain, options.Command, cancellationToken);
                    task.Value = task.MaxValue;
                    return started;
                });
        }

        console.Out.MarkupLineInterpolated($"Uploading {BuildView.FormatBytes(length)} to {client.Server} ...");
        var stopwatch = Stopwatch.StartNew();
        var build = await client.UploadAndBuildAsync(projectId, file, options.Toolchain, options.Command, cancellationToken);
        var seconds = Math.Max(stopwatch.Elapsed.TotalSeconds, 0.001);
        console.Out.MarkupLineInterpolated(
            $"Uploaded {BuildView.FormatBytes(length)} in {seconds.ToString("0.0", CultureInfo.InvariantCulture)} s ({BuildView.FormatBytes((long)(length / seconds))}/s).");
        return build;
    }
}
