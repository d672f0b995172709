// Charts drawn by Apache ECharts (only the parts used here are bundled). One component: an
// option in, click events out; the chart follows its box's size.
import { useEffect, useRef } from 'react';
import * as echarts from 'echarts/core';
import { BarChart, HeatmapChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

echarts.use([BarChart, HeatmapChart, LineChart, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

export type ChartOption = echarts.EChartsCoreOption;
export interface ChartClick {
  data: unknown;
  seriesName?: string;
}

export function Chart({
  option,
  onClick,
  label,
  testId,
  height = 320,
  data,
}: {
  option: ChartOption;
  onClick?: (event: ChartClick) => void;
  label: string;
  testId?: string;
  height?: number;
  data?: Record<string, string>;
}) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const click = useRef(onClick);
  click.current = onClick;

  useEffect(() => {
    if (!box.current) return;
    const instance = echarts.init(box.current, undefined, { renderer: 'canvas' });
    chart.current = instance;
    instance.on('click', (event) => click.current?.({ data: event.data, seriesName: event.seriesName }));
    const resized = new ResizeObserver(() => instance.resize());
    resized.observe(box.current);
    return () => {
      resized.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, []);

  useEffect(() => {
    chart.current?.setOption(option, true);
  }, [option]);

  const dataAttributes = Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [`data-${k}`, v]));
  return <div ref={box} role="img" aria-label={label} data-testid={testId} style={{ width: '100%', height }} {...dataAttributes} />;
}
